// mimalloc: the request path allocates many small, short-lived objects; glibc malloc cost
// ~10 % of a mediated request's CPU time (docs/adr/0004-global-allocator.md); plain layouts on
// mimalloc's fast path (docs/adr/0524-allocator-plain-layouts-on-the-fast-path.md).
#[global_allocator]
static GLOBAL: synaptic_alloc::Mimalloc = synaptic_alloc::Mimalloc;

fn main() -> std::process::ExitCode {
    synaptic_cli::main()
}
