//! Link the system's libxslt, libexslt and libxml2 (Debian: `libxslt1-dev`, installed by
//! `.ci/setup.sh`), found through pkg-config.

fn main() {
    for lib in ["libexslt", "libxslt", "libxml-2.0"] {
        if let Err(e) = pkg_config::Config::new().probe(lib) {
            panic!(
                "synaptic-xslt needs {lib} and its development files (Debian: apt-get install \
                 libxslt1-dev): {e}"
            );
        }
    }
}
