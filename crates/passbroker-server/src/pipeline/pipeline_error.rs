//! The pipeline's errors, by what the caller can do about them. `http::error` turns them
//! into responses (one `From` impl); the workers log them and try again later.

use passbroker_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// Not now: the store or a dependency is unavailable; the same step may succeed later.
    #[error("{0}")]
    Transient(String),
    /// Will not succeed on a retry: something the step needs is gone or conflicts.
    #[error("{0}")]
    Permanent(String),
    /// The input names something that does not exist or is malformed; the text says what.
    #[error("{0}")]
    InvalidInput(String),
    /// A bug or corrupt stored data; never shown to API callers.
    #[error("{0}")]
    Internal(String),
}

pub type PipelineResult<T> = Result<T, PipelineError>;

impl PipelineError {
    pub fn internal(why: impl std::fmt::Display) -> Self {
        PipelineError::Internal(why.to_string())
    }
    /// Adds what the pipeline was doing to the message, keeping the kind.
    pub fn context(self, what: &str) -> Self {
        match self {
            PipelineError::Transient(m) => PipelineError::Transient(format!("{what}: {m}")),
            PipelineError::Permanent(m) => PipelineError::Permanent(format!("{what}: {m}")),
            PipelineError::InvalidInput(m) => PipelineError::InvalidInput(format!("{what}: {m}")),
            PipelineError::Internal(m) => PipelineError::Internal(format!("{what}: {m}")),
        }
    }
}

impl From<StoreError> for PipelineError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(m) | StoreError::Busy(m) => PipelineError::Transient(m),
            StoreError::Conflict(m) => PipelineError::Permanent(m),
            StoreError::NotFound(m) => PipelineError::InvalidInput(m),
            other => PipelineError::Internal(other.to_string()),
        }
    }
}

/// A blocking task that panicked or was cancelled (shutdown).
impl From<tokio::task::JoinError> for PipelineError {
    fn from(e: tokio::task::JoinError) -> Self {
        PipelineError::Internal(format!("a blocking task did not finish: {e}"))
    }
}
