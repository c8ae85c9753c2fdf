//! Writing a whole output folder atomically: everything goes into a temporary folder beside
//! it, which is renamed into place at the end. A run that fails removes its temporary folder;
//! a killed run leaves only `.<name>.partial-*` beside the output, never a half-written output.

use std::fs;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

use crate::error::DataError;

/// A temporary folder that becomes `out` on [`Staging::commit`].
pub(crate) struct Staging {
    tmp: TempDir,
    out: PathBuf,
}

/// `NotEmpty` when `out` exists and holds anything; an error when it is not a folder.
fn refuse_existing(out: &Path) -> Result<(), DataError> {
    if !out.exists() {
        return Ok(());
    }
    if !out.is_dir() {
        return Err(DataError::invalid(
            out,
            "exists and is not a folder (nothing was written)",
        ));
    }
    let mut entries = fs::read_dir(out).map_err(|e| DataError::io(out, e))?;
    if entries.next().is_some() {
        return Err(DataError::NotEmpty { path: out.into() });
    }
    Ok(())
}

impl Staging {
    /// Refuses an existing non-empty `out`, then creates the temporary folder beside it (and
    /// `out`'s parent folders when missing).
    pub(crate) fn new(out: &Path) -> Result<Self, DataError> {
        refuse_existing(out)?;
        let name = out.file_name().ok_or_else(|| DataError::InvalidOption {
            path: out.into(),
            message: "the output must name a folder (not `.`, `..` or `/`)".into(),
        })?;
        let parent = match out.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        fs::create_dir_all(parent).map_err(|e| DataError::write(parent, e))?;
        let prefix = format!(".{}.partial-", name.to_string_lossy());
        let tmp = tempfile::Builder::new()
            .prefix(&prefix)
            .tempdir_in(parent)
            .map_err(|e| DataError::write(parent, e))?;
        // tempfile makes the folder owner-only (0700); the output is an ordinary data folder
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755))
                .map_err(|e| DataError::write(tmp.path(), e))?;
        }
        Ok(Staging {
            tmp,
            out: out.into(),
        })
    }

    /// The temporary folder to write into.
    pub(crate) fn path(&self) -> &Path {
        self.tmp.path()
    }

    /// Renames the temporary folder to `out` (replacing an empty `out`).
    pub(crate) fn commit(self) -> Result<(), DataError> {
        refuse_existing(&self.out)?;
        if self.out.is_dir() {
            fs::remove_dir(&self.out).map_err(|e| DataError::write(&self.out, e))?;
        }
        fs::rename(self.tmp.path(), &self.out).map_err(|e| DataError::write(&self.out, e))?;
        // the folder now lives at `out`: nothing left to clean up
        let _ = self.tmp.keep();
        Ok(())
    }
}
