//! ONNX Runtime behind a small trait.
//!
//! The library is loaded dynamically (`ort`'s `load-dynamic`) from the model cache,
//! once per process. `ort` sessions need `&mut self` to run, so each model owns a
//! small pool of sessions behind mutexes: concurrent requests take different sessions
//! instead of queueing on one, and no global mutable state is shared between them.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::TensorRef;

use crate::error::EngineError;
use crate::tensor::{InferenceModel, Tensor};

/// How sessions are built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionOptions {
    /// Sessions in the pool (concurrent runs of this model).
    pub pool_size: usize,
    /// Threads each session may use inside one operator.
    pub intra_threads: usize,
}

impl Default for SessionOptions {
    fn default() -> Self {
        Self {
            pool_size: 1,
            intra_threads: 1,
        }
    }
}

static RUNTIME: OnceLock<Result<ort::environment::Environment, String>> = OnceLock::new();

/// Loads ONNX Runtime from `library` (first call only; later calls reuse it).
pub fn init_runtime(library: &Path) -> Result<(), EngineError> {
    let env = RUNTIME.get_or_init(|| {
        ort::init_from(library)
            .map_err(|e| format!("cannot load {}: {e}", library.display()))?
            .with_name("facematch")
            .with_telemetry(false)
            .build()
            .map_err(|e| e.to_string())
    });
    env.as_ref()
        .map(|_| ())
        .map_err(|e| EngineError::Runtime(e.clone()))
}

fn runtime() -> Result<&'static ort::environment::Environment, EngineError> {
    match RUNTIME.get() {
        Some(Ok(env)) => Ok(env),
        Some(Err(e)) => Err(EngineError::Runtime(e.clone())),
        None => Err(EngineError::Runtime(
            "ONNX Runtime is not loaded yet (call init_runtime first)".into(),
        )),
    }
}

/// An ONNX model run by ONNX Runtime, with a pool of sessions.
pub struct OrtModel {
    name: String,
    sessions: Vec<Mutex<Session>>,
    next: AtomicUsize,
    input_name: String,
    output_names: Vec<String>,
}

impl std::fmt::Debug for OrtModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrtModel")
            .field("name", &self.name)
            .field("sessions", &self.sessions.len())
            .field("outputs", &self.output_names)
            .finish()
    }
}

impl OrtModel {
    /// Builds `options.pool_size` sessions of the ONNX model in `bytes`.
    pub fn from_bytes(
        name: &str,
        bytes: &[u8],
        options: SessionOptions,
    ) -> Result<Self, EngineError> {
        let env = runtime()?;
        let rt = |e: ort::Error<_>| EngineError::Runtime(format!("{name}: {e}"));
        let mut sessions = Vec::new();
        for _ in 0..options.pool_size.max(1) {
            let session = Session::builder(env)
                .map_err(|e| EngineError::Runtime(format!("{name}: {e}")))?
                .with_optimization_level(GraphOptimizationLevel::All)
                .map_err(rt)?
                .with_intra_threads(options.intra_threads.max(1))
                .map_err(rt)?
                .with_inter_threads(1)
                .map_err(rt)?
                .commit_from_memory(bytes)
                .map_err(|e| EngineError::Runtime(format!("{name}: {e}")))?;
            sessions.push(Mutex::new(session));
        }
        let first = sessions
            .first()
            .ok_or_else(|| EngineError::Runtime(format!("{name}: no session")))?
            .lock()
            .map_err(|_| EngineError::Runtime(format!("{name}: poisoned session")))?;
        let input_name = first
            .inputs()
            .first()
            .map(|i| i.name().to_string())
            .ok_or_else(|| EngineError::Runtime(format!("{name}: model has no input")))?;
        let output_names = first
            .outputs()
            .iter()
            .map(|o| o.name().to_string())
            .collect();
        drop(first);
        Ok(Self {
            name: name.to_string(),
            sessions,
            next: AtomicUsize::new(0),
            input_name,
            output_names,
        })
    }

    /// Builds the model from an ONNX file.
    pub fn from_file(path: &Path, options: SessionOptions) -> Result<Self, EngineError> {
        let bytes = std::fs::read(path).map_err(|source| EngineError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Self::from_bytes(&name, &bytes, options)
    }

    /// Takes a free session if there is one, else waits for the next in turn.
    fn session(&self) -> Result<std::sync::MutexGuard<'_, Session>, EngineError> {
        for s in &self.sessions {
            if let Ok(guard) = s.try_lock() {
                return Ok(guard);
            }
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.sessions.len();
        // A poisoned lock only means another run panicked mid-way; the session itself
        // holds no partial state between runs, so it is safe to reuse.
        Ok(self.sessions[i]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner))
    }
}

impl InferenceModel for OrtModel {
    fn run(&self, input: &Tensor) -> Result<Vec<Tensor>, EngineError> {
        let rt = |e: ort::Error| EngineError::Runtime(format!("{}: {e}", self.name));
        // ORT reads the caller's buffer in place: no copy, no intermediate array. A
        // shape that does not hold the data is refused here.
        let tensor = TensorRef::from_array_view((&input.shape[..], &input.data[..])).map_err(rt)?;
        let mut session = self.session()?;
        let outputs = session
            .run(ort::inputs![self.input_name.as_str() => tensor])
            .map_err(rt)?;
        self.output_names
            .iter()
            .map(|name| {
                let value = outputs.get(name.as_str()).ok_or_else(|| {
                    EngineError::BadOutput(format!("{}: no output {name}", self.name))
                })?;
                let (shape, data) = value.try_extract_tensor::<f32>().map_err(rt)?;
                let shape = shape
                    .iter()
                    .map(|&d| usize::try_from(d).unwrap_or(0))
                    .collect();
                Tensor::new(shape, data.to_vec())
            })
            .collect()
    }

    fn output_names(&self) -> &[String] {
        &self.output_names
    }
}
