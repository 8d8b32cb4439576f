fn main() -> std::process::ExitCode {
    synaptic_cli::main()
}
