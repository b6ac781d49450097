//! Changing an operation: every change is one store transaction that also
//! records its event; a state change also tells the operator.

use crate::app::AppState;
use crate::clients::Notice;
use crate::domain::event::EventKind;
use crate::domain::operation::Operation;
use crate::error::AppError;

/// Applies `f` to the stored operation and appends an event, in one transaction.
pub async fn change(
    st: &AppState,
    id: &str,
    kind: EventKind,
    message: impl Into<String>,
    f: impl FnOnce(&mut Operation, i64) -> Result<(), AppError> + Send + 'static,
) -> Result<Operation, AppError> {
    let (id, message, now) = (id.to_string(), message.into(), st.now());
    st.store
        .run(move |s| {
            s.write(|tx| {
                let mut op = tx.op(&id)?;
                f(&mut op, now)?;
                tx.put_op(&op)?;
                tx.event(&id, now, kind, message)?;
                Ok::<_, AppError>(op)
            })
        })
        .await
}

/// Moves an operation to another state (if allowed), with an event and a notice.
pub async fn transition(
    st: &AppState,
    op: &Operation,
    to: crate::domain::state::State,
    kind: EventKind,
    message: impl Into<String>,
    f: impl FnOnce(&mut Operation) + Send + 'static,
) -> Result<Operation, AppError> {
    let message = message.into();
    let op = change(st, &op.id, kind, message.clone(), move |op, now| {
        op.go(to, now)
            .map_err(|e| AppError::Conflict(e.to_string()))?;
        f(op);
        Ok(())
    })
    .await?;
    if kind.is_notice() {
        let notice = Notice {
            op_id: Some(op.id.clone()),
            codename: Some(op.codename.clone()),
            kind: format!("{kind:?}"),
            message,
        };
        st.clients.notifier.notify(&notice).await;
    }
    Ok(op)
}

/// Every operation in one of `states`.
pub async fn ops_in(
    st: &AppState,
    states: &'static [crate::domain::state::State],
) -> Result<Vec<Operation>, AppError> {
    st.store
        .run(move |s| Ok::<_, AppError>(s.operations_where(|o| states.contains(&o.state))?))
        .await
}
