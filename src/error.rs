//! The one error type of handlers, jobs and commands. 4xx variants carry a
//! message the visitor or operator can act on; 5xx ones are logged whole.

use crate::clients::{CloudError, NodeError, PriceError, WalletError};
use crate::store::StoreError;

/// What went wrong, by who must act.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The input was wrong; the message says what to fix. 422.
    #[error("{0}")]
    BadInput(String),
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 403.
    #[error("{0}")]
    Forbidden(String),
    /// 401.
    #[error("{0}")]
    Unauthorized(String),
    /// 409: the request conflicts with the current state.
    #[error("{0}")]
    Conflict(String),
    /// 503: a remote service is down; try later.
    #[error("{0}")]
    Unavailable(String),
    /// 500.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// 500.
    #[error("{0}")]
    Internal(String),
}

impl AppError {
    /// The HTTP status of the error.
    pub fn status(&self) -> u16 {
        match self {
            AppError::BadInput(_) => 422,
            AppError::NotFound(_) => 404,
            AppError::Forbidden(_) => 403,
            AppError::Unauthorized(_) => 401,
            AppError::Conflict(_) => 409,
            AppError::Unavailable(_) => 503,
            AppError::Store(StoreError::CodenameTaken(_)) => 409,
            AppError::Store(StoreError::NotFound(_)) => 404,
            AppError::Store(_) | AppError::Internal(_) => 500,
        }
    }
}

impl AppError {
    /// A copy of an error shared by coalesced requests (a cache load), with
    /// the same status and words.
    pub fn copied(&self) -> AppError {
        match self {
            AppError::BadInput(m) => AppError::BadInput(m.clone()),
            AppError::NotFound(m) => AppError::NotFound(m.clone()),
            AppError::Forbidden(m) => AppError::Forbidden(m.clone()),
            AppError::Unauthorized(m) => AppError::Unauthorized(m.clone()),
            AppError::Conflict(m) => AppError::Conflict(m.clone()),
            AppError::Unavailable(m) => AppError::Unavailable(m.clone()),
            AppError::Store(StoreError::NotFound(m)) => {
                AppError::Store(StoreError::NotFound(m.clone()))
            }
            AppError::Store(StoreError::CodenameTaken(c)) => {
                AppError::Store(StoreError::CodenameTaken(c.clone()))
            }
            e @ (AppError::Store(_) | AppError::Internal(_)) => AppError::Internal(e.to_string()),
        }
    }
}

impl From<WalletError> for AppError {
    fn from(e: WalletError) -> Self {
        match e {
            WalletError::InvalidAddress(a) => {
                AppError::BadInput(format!("The wallet refused the address {a}."))
            }
            e @ (WalletError::NotEnoughMoney
            | WalletError::NotEnoughUnlocked
            | WalletError::Rejected(_)) => AppError::Conflict(e.to_string()),
            e => AppError::Unavailable(format!(
                "The wallet is not available right now ({e}). Try again in a minute."
            )),
        }
    }
}

impl From<CloudError> for AppError {
    fn from(e: CloudError) -> Self {
        AppError::Unavailable(format!(
            "The cloud provider is not available right now ({e})."
        ))
    }
}

impl From<PriceError> for AppError {
    fn from(e: PriceError) -> Self {
        AppError::Unavailable(format!("The XMR price is not available right now ({e})."))
    }
}

impl From<NodeError> for AppError {
    fn from(e: NodeError) -> Self {
        AppError::Unavailable(e.to_string())
    }
}
