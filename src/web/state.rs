//! The web layer's state: the app it serves, and what only the web needs
//! (the admin token and sessions, rate limits, rendered pages). Handlers
//! take `State<AppState>` or `State<WebState>` (axum's `FromRef`); the app
//! below knows nothing of either.

use std::sync::Arc;

use axum::extract::FromRef;

use super::limits::Limits;
use super::pages::Pages;
use crate::app::{AppState, StartError};
use crate::config::Secret;

/// What the router shares; cheap to clone.
#[derive(Clone)]
pub struct WebState(Arc<Web>);

/// What a [`WebState`] holds.
pub struct Web {
    /// The app the pages show and the forms change.
    pub app: AppState,
    /// `STATS_TOKEN` or the generated one (`DATA_DIR/admin-token`).
    pub admin_token: Secret,
    /// Admin sessions (random ids), with their expiry.
    pub sessions: moka::future::Cache<String, ()>,
    /// Rate limits of the launchpad and of admin logins.
    pub limits: Limits,
    /// Read models and rendered pages.
    pub pages: Pages,
}

impl WebState {
    /// The web state of `app`; makes the admin token file on first start.
    pub fn new(app: AppState) -> Result<Self, StartError> {
        let admin_token = crate::app::admin_token(&app.config)?;
        let limits = Limits::new(&app.config, app.clock.clone());
        Ok(WebState(Arc::new(Web {
            admin_token,
            sessions: moka::future::Cache::builder()
                .time_to_live(std::time::Duration::from_secs(12 * 3600))
                .build(),
            limits,
            pages: Pages::default(),
            app,
        })))
    }
}

impl std::ops::Deref for WebState {
    type Target = Web;
    fn deref(&self) -> &Web {
        &self.0
    }
}

impl std::ops::Deref for Web {
    type Target = AppState;
    fn deref(&self) -> &AppState {
        &self.app
    }
}

impl FromRef<WebState> for AppState {
    fn from_ref(w: &WebState) -> AppState {
        w.app.clone()
    }
}
