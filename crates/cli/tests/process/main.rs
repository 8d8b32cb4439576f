//! The `synaptic` binary run as a process: its logs, `SIGHUP` reload, `synaptic run` against a
//! real origin and two gateways sharing Redis. One test binary, one module per area.

mod logs;
mod reload_sighup;
mod run_upstream;
mod two_gateways;
