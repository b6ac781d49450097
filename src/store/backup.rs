//! Consistent copies of the database: every table copied inside one read
//! transaction into a new file, which is then renamed into place.

use std::path::Path;

use redb::{Database, ReadableDatabase};

use super::tables;
use super::{Result, Store, StoreError};

/// Writes a consistent copy of `store` to `dest` (which must not exist).
pub fn backup_to(store: &Store, dest: &Path) -> Result<u64> {
    if dest.exists() {
        return Err(StoreError::Io(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            format!("{} exists; choose a new file", dest.display()),
        )));
    }
    let tmp = dest.with_extension("partial");
    let _ = std::fs::remove_file(&tmp);
    let copied = copy_tables(&store.db, &tmp)?;
    std::fs::rename(&tmp, dest)?;
    Ok(copied)
}

fn copy_tables(src: &Database, dest: &Path) -> Result<u64> {
    let out = Database::create(dest)?;
    let r = src.begin_read()?;
    let w = out.begin_write()?;
    let mut copied = 0;
    for def in tables::ALL {
        let from = match r.open_table(def) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => continue,
            Err(e) => return Err(e.into()),
        };
        let mut to = w.open_table(def)?;
        for item in from.range::<&str>(..)? {
            let (k, v) = item?;
            to.insert(k.value(), v.value())?;
            copied += 1;
        }
    }
    w.commit()?;
    Ok(copied)
}

/// Restores a backup into an empty `data_dir`.
pub fn restore_from(backup: &Path, data_dir: &Path) -> Result<u64> {
    let dest = Store::file_in(data_dir);
    if dest.exists() {
        return Err(StoreError::Io(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            format!(
                "{} exists; restore only into an empty DATA_DIR",
                dest.display()
            ),
        )));
    }
    std::fs::create_dir_all(data_dir)?;
    let src = Database::open(backup)?;
    copy_tables(&src, &dest)
}
