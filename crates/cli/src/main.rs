// mimalloc: the request path allocates many small, short-lived objects; glibc malloc cost
// ~10 % of a mediated request's CPU time (docs/adr/0004-global-allocator.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    synaptic_cli::main()
}
