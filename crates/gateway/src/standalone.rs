//! Sequences run without a server (`synaptic run`, `synaptic test`): the compile options and
//! the engine serving would give them. The only source of deploy-time values is the process
//! environment (`$SYSTEM:NAME`, `get-property('env', …)`): there is no `[configs]`,
//! `[secrets]` or properties file.

use crate::configurables::Configurables;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use synaptic_engine::{CompileOptions, Engine, Limits, Program, SystemClock};

/// The largest backend answer a `<call>` reads when run without a server.
const MAX_RESPONSE: usize = 64 << 20;

/// Compile options: deploy-time values from the environment, and the WSDL documents
/// endpoints name read from files (`<wsdl uri>` paths are relative to `base`).
pub fn compile_options(base: &Path) -> (CompileOptions, Arc<Configurables>) {
    let values = Arc::new(Configurables::default());
    let opts = CompileOptions {
        deploy: Some(synaptic_engine::DeployValues(values.clone())),
        wsdl: Some(crate::wsdl::ProjectWsdl::new(base).source()),
        ..Default::default()
    };
    (opts, values)
}

/// An engine for `program`: the gateway's upstream stack for `<call>`/`<send>` (every
/// exchange bounded by `timeout` unless the endpoint says otherwise), its database pools
/// (files their settings name are relative to `base`), in-memory counters and cache, the
/// system clock.
pub fn engine(
    program: Arc<Program>,
    values: Arc<Configurables>,
    registry: Arc<dyn synaptic_registry::Registry>,
    base: &Path,
    timeout: Duration,
) -> Result<Engine, crate::proxy::ClientError> {
    let invoker = crate::invoker::HttpInvoker::standalone(timeout, MAX_RESPONSE)?;
    let db = crate::database::Databases::new(
        program.data_sources(),
        &Default::default(),
        &crate::database::DbFolders {
            config: base.to_path_buf(),
            project: base.to_path_buf(),
        },
        crate::database::DEFAULT_MAX_CONNECTIONS,
        crate::database::DEFAULT_TIMEOUT,
    );
    Ok(Engine {
        configurables: values,
        program,
        invoker: Arc::new(invoker),
        registry,
        clock: Arc::new(SystemClock),
        state: Arc::new(synaptic_engine::MemoryState::default()),
        db: Arc::new(db),
        limits: Limits {
            call_timeout: timeout,
            ..Limits::default()
        },
    })
}
