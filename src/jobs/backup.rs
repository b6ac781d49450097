//! backup: a consistent copy of the database into `DATA_DIR/backups`, keeping
//! the newest `BACKUP_KEEP`.

use super::Outcome;
use crate::app::AppState;
use crate::error::AppError;

/// One pass.
pub async fn run_once(st: &AppState, out: &mut Outcome) -> Result<(), AppError> {
    let dir = st.config.data_dir.join("backups");
    let file = dir.join(format!(
        "nodecannon-{}.redb",
        crate::clock::rfc3339(st.now()).replace(':', "")
    ));
    if out.dry_run {
        out.did(format!("would write {}", file.display()));
        return Ok(());
    }
    let keep = st.config.backup_keep as usize;
    let (f, d) = (file.clone(), dir.clone());
    let (entries, removed) = st
        .store
        .run(move |s| {
            std::fs::create_dir_all(&d).map_err(crate::store::StoreError::from)?;
            let n = crate::store::backup_to(s, &f)?;
            let mut backups: Vec<_> = std::fs::read_dir(&d)
                .map_err(crate::store::StoreError::from)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("nodecannon-") && n.ends_with(".redb"))
                })
                .collect();
            backups.sort();
            let extra = backups.len().saturating_sub(keep);
            for old in &backups[..extra] {
                std::fs::remove_file(old).map_err(crate::store::StoreError::from)?;
            }
            Ok::<_, AppError>((n, extra))
        })
        .await?;
    out.did(format!(
        "wrote {} ({entries} entries), removed {removed} old backup(s)",
        file.display()
    ));
    Ok(())
}
