//! `duet admin ...`: the web console's users.

use crate::cli::AdminCommand;
use crate::config::Common;

/// Runs one `duet admin` subcommand.
pub fn run(common: &Common, cmd: AdminCommand) -> anyhow::Result<()> {
    let registry = common.registry()?;
    match cmd {
        AdminCommand::Password { username, password } => {
            let generated = password.is_none();
            let password = password.unwrap_or_else(crate::store::password::generate);
            registry.set_admin_password(&username, &password)?;
            if generated {
                say!("Console user \"{username}\", password {password}");
            } else {
                say!("Set the password of console user \"{username}\"");
            }
        }
    }
    Ok(())
}
