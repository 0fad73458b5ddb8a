//! A gate inside the pipeline: face detection waits until the test opens it, and the
//! test can see how many detections got there — synchronisation on observable state
//! instead of sleeps.

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use facematch_core::{Detection, FaceDetector, Pipeline, PipelineError};

use super::{live_app, pipeline, Live, RealDescriber, TestApp};

/// Holds face detection until opened, and says when a request got there.
#[derive(Default)]
pub struct Gate {
    open: Mutex<bool>,
    opened: Condvar,
    /// Detections that reached the gate so far.
    arrived: Mutex<usize>,
}

impl Gate {
    /// Lets every held and later detection through.
    pub fn open(&self) {
        // Also called while a failed test unwinds: never panic here.
        *self.open.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.opened.notify_all();
    }

    /// Blocks (on a worker thread) until the gate is open.
    fn pass(&self) {
        *self.arrived.lock().expect("gate") += 1;
        let open = self.open.lock().expect("gate");
        drop(self.opened.wait_while(open, |open| !*open).expect("gate"));
    }

    /// Detections that reached the gate so far.
    pub fn arrived(&self) -> usize {
        *self.arrived.lock().expect("gate")
    }

    /// Waits until at least `n` detections reached the gate (polling: a blocked waiter
    /// would keep the runtime from shutting down if none ever came).
    pub async fn until_arrived(&self, n: usize) {
        until("a request reached the pipeline", || self.arrived() >= n).await;
    }
}

/// The real detector behind a [`Gate`].
struct Gated(Pipeline, Arc<Gate>);

impl FaceDetector for Gated {
    fn detect(&self, image: &facematch_imageio::RgbImage) -> Result<Vec<Detection>, PipelineError> {
        self.1.pass();
        self.0.detector().detect(image)
    }
}

/// The test's handle on a [`Gate`]; dropping it opens the gate, so that a failed
/// assertion ends the test instead of leaving a worker blocked (the runtime would wait
/// for it forever).
pub struct GateHandle(Arc<Gate>);

impl std::ops::Deref for GateHandle {
    type Target = Arc<Gate>;
    fn deref(&self) -> &Arc<Gate> {
        &self.0
    }
}

impl Drop for GateHandle {
    fn drop(&mut self) {
        self.0.open();
    }
}

/// A live server whose face detection waits at the returned gate.
pub async fn gated(tweak: impl FnOnce(&mut facematch_server::ServerConfig)) -> (Live, GateHandle) {
    let gate = Arc::new(Gate::default());
    let real = pipeline();
    let gated = Pipeline::new(
        Arc::new(Gated(real.clone(), Arc::clone(&gate))),
        Arc::new(RealDescriber(real)),
    );
    let server = live_app(TestApp::with_pipeline(gated, tweak)).await;
    (server, GateHandle(gate))
}

/// Polls `ready` (observable state) until it holds; 30 s at most.
pub async fn until(what: &str, mut ready: impl FnMut() -> bool) {
    let waited = tokio::time::timeout(Duration::from_secs(30), async {
        while !ready() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "never happened: {what}");
}
