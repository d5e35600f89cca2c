//! Puts the console's chart library (uPlot, MIT, from npm: `web/node_modules/uplot`, which
//! `scripts/setup.sh` installs with `npm ci` in web/) into the binary's embedded assets, so the
//! console draws charts with no internet at run time. Without it (a build before `npm ci`), the
//! console shows its call-quality figures as tables and says how to get the charts.

use std::path::Path;

fn main() {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    let dist = Path::new(&manifest).join("../../web/node_modules/uplot/dist");
    for (from, to, missing) in [
        (
            "uPlot.iife.min.js",
            "uplot.js",
            "/* uPlot is not embedded: run `npm ci` in web/ (scripts/setup.sh does) and build again. */\n",
        ),
        ("uPlot.min.css", "uplot.css", "/* uPlot is not embedded. */\n"),
    ] {
        let src = dist.join(from);
        println!("cargo:rerun-if-changed={}", src.display());
        let body = std::fs::read_to_string(&src).unwrap_or_else(|_| {
            println!("cargo:warning=console charts not embedded: {} is missing (npm ci in web/)", src.display());
            missing.to_owned()
        });
        // Written only when it changed, so an unchanged library does not rebuild the crate.
        let target = Path::new(&out).join(to);
        if std::fs::read_to_string(&target).ok().as_deref() != Some(body.as_str()) {
            std::fs::write(target, body).expect("OUT_DIR is writable");
        }
    }
}
