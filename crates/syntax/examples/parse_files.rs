//! Parse XML files and print their diagnostics: `cargo run -p synaptic-syntax --example
//! parse_files -- FILE...` (a quick look at what the parser reports on real files).

fn main() {
    let mut map = synaptic_diag::SourceMap::new();
    for path in std::env::args().skip(1) {
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("{path}: {e}");
                continue;
            }
        };
        let id = map.add(path.clone(), text.clone());
        let parse = synaptic_syntax::parse_artifact(id, &text);
        for d in &parse.diagnostics {
            println!("{}", synaptic_diag::render::short(&map, d));
        }
    }
}
