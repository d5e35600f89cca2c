//! Links libvo-aacenc (the AAC-LC encoder) and checks libopus through pkg-config, failing with
//! the Debian package to install. libopus itself is linked by `audiopus_sys` (under the `opus`
//! crate), which also asks pkg-config and links it dynamically.

fn main() {
    probe("vo-aacenc", "libvo-aacenc-dev");
    probe("opus", "libopus-dev");
}

fn probe(library: &str, debian_package: &str) {
    if let Err(e) = pkg_config::Config::new().probe(library) {
        panic!(
            "\n\nduet-audio needs {library} (found through pkg-config): install the Debian package \
             {debian_package} and pkg-config (`bash scripts/setup.sh` does it).\npkg-config said: {e}\n"
        );
    }
}
