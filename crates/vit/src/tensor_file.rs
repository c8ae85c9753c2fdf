//! safetensors files of named f32 tensors, written atomically (temp file + rename), with a
//! format name and version in the metadata.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::names::HostTensor;

/// Metadata key holding the format name (e.g. `sweet.vit`).
pub const FORMAT_KEY: &str = "format";
/// Metadata key holding the format version.
pub const VERSION_KEY: &str = "format_version";

#[derive(Debug, thiserror::Error)]
pub enum TensorFileError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a valid safetensors file: {reason}")]
    Parse { path: PathBuf, reason: String },
    #[error("{path}: tensor {key} has dtype {dtype}, only F32 is supported")]
    Dtype {
        path: PathBuf,
        key: String,
        dtype: String,
    },
    #[error(
        "{path}: format is {found:?}, expected {expected:?} (is this the right kind of file?)"
    )]
    Format {
        path: PathBuf,
        expected: String,
        found: Option<String>,
    },
    #[error(
        "{path}: {format} file of format_version {}, this sweet reads format_version {} (was it written by another version of sweet? read it with that one)",
        found.as_deref().unwrap_or("(none)"),
        supported.join(" or ")
    )]
    Version {
        path: PathBuf,
        format: String,
        found: Option<String>,
        supported: Vec<String>,
    },
}

/// Writes `bytes` to `path` through a temp file in the same folder and a rename, so a reader (or
/// a crash) never sees a half-written file.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<(), TensorFileError> {
    let io = |source| TensorFileError::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io)
}

/// Writes named f32 tensors plus `metadata` (which should carry [`FORMAT_KEY`] and
/// [`VERSION_KEY`]) as one safetensors file, atomically.
pub fn write(
    path: &Path,
    tensors: &[(String, HostTensor)],
    metadata: &BTreeMap<String, String>,
) -> Result<(), TensorFileError> {
    let bytes: Vec<(String, Vec<u8>, Vec<usize>)> = tensors
        .iter()
        .map(|(k, t)| {
            (
                k.clone(),
                t.values.iter().flat_map(|v| v.to_le_bytes()).collect(),
                t.shape.clone(),
            )
        })
        .collect();
    let views: Vec<(String, TensorView)> = bytes
        .iter()
        .map(|(k, b, s)| {
            (
                k.clone(),
                TensorView::new(Dtype::F32, s.clone(), b).expect("sizes agree"),
            )
        })
        .collect();
    let meta: HashMap<String, String> = metadata.clone().into_iter().collect();
    let mut data =
        safetensors::serialize(views, &Some(meta)).map_err(|e| TensorFileError::Parse {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    sort_header(&mut data);
    atomic_write(path, &data)
}

/// Rewrites the JSON header of serialized safetensors `data` with its keys in sorted order,
/// so that the same tensors and metadata always give the same bytes (safetensors writes its
/// metadata from a `HashMap`, in an order that changes from one write to the next). The
/// header keeps its length: the same keys and values, reordered, padded with the same spaces.
fn sort_header(data: &mut [u8]) {
    let n = u64::from_le_bytes(data[..8].try_into().expect("8-byte length")) as usize;
    let header = &data[8..8 + n];
    let value: serde_json::Value = serde_json::from_slice(header).expect("safetensors wrote JSON");
    // serde_json's map is a BTreeMap: serialized with sorted keys at every level
    let sorted = serde_json::to_vec(&value).expect("JSON serializes");
    debug_assert!(sorted.len() <= n, "a reordered header is no longer");
    data[8..8 + sorted.len()].copy_from_slice(&sorted);
    data[8 + sorted.len()..8 + n].fill(b' ');
}

/// Named tensors and metadata of one file.
pub struct TensorFile {
    pub tensors: BTreeMap<String, HostTensor>,
    pub metadata: BTreeMap<String, String>,
}

impl TensorFile {
    /// Checks the format name written by [`write()`].
    pub fn expect_format(&self, path: &Path, expected: &str) -> Result<(), TensorFileError> {
        let found = self.metadata.get(FORMAT_KEY).cloned();
        if found.as_deref() == Some(expected) {
            Ok(())
        } else {
            Err(TensorFileError::Format {
                path: path.to_path_buf(),
                expected: expected.into(),
                found,
            })
        }
    }

    /// Checks the format name, as [`expect_format`](Self::expect_format), and that the
    /// [`VERSION_KEY`] is one of `versions` (the versions this build reads).
    pub fn expect_format_version(
        &self,
        path: &Path,
        expected: &str,
        versions: &[&str],
    ) -> Result<(), TensorFileError> {
        self.expect_format(path, expected)?;
        let found = self.metadata.get(VERSION_KEY);
        if found.is_some_and(|v| versions.contains(&v.as_str())) {
            Ok(())
        } else {
            Err(TensorFileError::Version {
                path: path.to_path_buf(),
                format: expected.into(),
                found: found.cloned(),
                supported: versions.iter().map(|v| v.to_string()).collect(),
            })
        }
    }
}

/// Reads every tensor of a safetensors file (F32 only) and its metadata.
pub fn read(path: &Path) -> Result<TensorFile, TensorFileError> {
    let bytes = std::fs::read(path).map_err(|source| TensorFileError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let parse = |e: safetensors::SafeTensorError| TensorFileError::Parse {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let (_, meta) = SafeTensors::read_metadata(&bytes).map_err(parse)?;
    let st = SafeTensors::deserialize(&bytes).map_err(parse)?;
    let mut tensors = BTreeMap::new();
    for (key, view) in st.tensors() {
        if view.dtype() != Dtype::F32 {
            return Err(TensorFileError::Dtype {
                path: path.to_path_buf(),
                key,
                dtype: format!("{:?}", view.dtype()),
            });
        }
        let values = view
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        tensors.insert(
            key,
            HostTensor {
                shape: view.shape().to_vec(),
                values,
            },
        );
    }
    let metadata = meta
        .metadata()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    Ok(TensorFile { tensors, metadata })
}
