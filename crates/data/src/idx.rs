//! IDX files (MNIST format): `00 00 08 <ndims>`, then `ndims` big-endian `u32` dims, then `u8` data.
//! Files ending in `.gz` are gunzipped first.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;

use crate::dataset::ImageSet;
use crate::error::DataError;

/// The content of an image IDX file: `count` images of `height x width` bytes, row-major,
/// `data.len() == count * height * width`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxImages {
    pub count: usize,
    pub height: usize,
    pub width: usize,
    pub data: Vec<u8>,
}

/// Returns `path` if it exists, else `path` + `.gz` if that exists, else `Missing` (naming `path`).
pub fn resolve(path: &Path) -> Result<PathBuf, DataError> {
    if path.is_file() {
        return Ok(path.to_path_buf());
    }
    let mut gz = path.as_os_str().to_owned();
    gz.push(".gz");
    let gz = PathBuf::from(gz);
    if gz.is_file() {
        return Ok(gz);
    }
    Err(DataError::Missing {
        path: path.to_path_buf(),
        note: format!(" (nor {})", gz.display()),
    })
}

/// Reads a whole file, gunzipping it when its name ends in `.gz`.
pub fn read_bytes(path: &Path) -> Result<Vec<u8>, DataError> {
    let file = File::open(path).map_err(|e| DataError::io(path, e))?;
    let mut out = Vec::new();
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"))
    {
        GzDecoder::new(BufReader::new(file))
            .read_to_end(&mut out)
            .map_err(|source| DataError::Gzip {
                path: path.to_path_buf(),
                source,
            })?;
    } else {
        BufReader::new(file)
            .read_to_end(&mut out)
            .map_err(|e| DataError::io(path, e))?;
    }
    Ok(out)
}

/// Checks the header of `bytes` for `ndims` dims and the data length; returns the dims and
/// strips the header from `bytes`, leaving exactly the data.
fn parse(path: &Path, bytes: &mut Vec<u8>, ndims: u8) -> Result<Vec<usize>, DataError> {
    let magic = [0u8, 0, 0x08, ndims];
    let seen = bytes.len().min(4);
    if bytes[..seen] != magic[..seen] {
        return Err(DataError::BadMagic {
            path: path.into(),
            found: bytes[..seen].to_vec(),
            expected_dims: ndims,
        });
    }
    let header = 4 + 4 * ndims as usize;
    if bytes.len() < header {
        return Err(DataError::Truncated {
            path: path.into(),
            dims: format!("{ndims}-dim IDX header"),
            expected: header as u64,
            actual: bytes.len() as u64,
        });
    }
    let dims: Vec<u64> = bytes[4..header]
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as u64)
        .collect();
    let dims_text = dims
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join("x");
    let too_large = || DataError::BadDims {
        path: path.into(),
        message: format!("{dims_text} does not fit in memory"),
    };
    let expected = dims
        .iter()
        .try_fold(1u64, |a, &d| a.checked_mul(d))
        .ok_or_else(too_large)?;
    let actual = (bytes.len() - header) as u64;
    if actual < expected {
        let dims = dims_text;
        return Err(DataError::Truncated {
            path: path.into(),
            dims,
            expected,
            actual,
        });
    }
    if actual > expected {
        let dims = dims_text;
        return Err(DataError::TrailingBytes {
            path: path.into(),
            dims,
            expected,
            actual,
        });
    }
    bytes.drain(..header);
    dims.iter()
        .map(|&d| usize::try_from(d).map_err(|_| too_large()))
        .collect()
}

/// Reads an image IDX file (3 dims: count, height, width).
pub fn read_images(path: &Path) -> Result<IdxImages, DataError> {
    let mut data = read_bytes(path)?;
    let dims = parse(path, &mut data, 3)?;
    let (count, height, width) = (dims[0], dims[1], dims[2]);
    if height == 0 || width == 0 {
        let message = format!("image size {height}x{width} has a zero side");
        return Err(DataError::BadDims {
            path: path.into(),
            message,
        });
    }
    Ok(IdxImages {
        count,
        height,
        width,
        data,
    })
}

/// Reads a label IDX file (1 dim: count), one `u8` label per sample.
pub fn read_labels(path: &Path) -> Result<Vec<u8>, DataError> {
    let mut data = read_bytes(path)?;
    parse(path, &mut data, 1)?;
    Ok(data)
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

fn dim_u32(d: usize) -> io::Result<[u8; 4]> {
    u32::try_from(d)
        .map(u32::to_be_bytes)
        .map_err(|_| invalid(format!("dim {d} exceeds u32")))
}

fn write_file(path: &Path, gz: bool, parts: &[&[u8]]) -> io::Result<()> {
    let file = BufWriter::new(File::create(path)?);
    if gz {
        let mut enc = GzEncoder::new(file, Compression::default());
        for p in parts {
            enc.write_all(p)?;
        }
        enc.finish()?.flush()
    } else {
        let mut file = file;
        for p in parts {
            file.write_all(p)?;
        }
        file.flush()
    }
}

/// Writes `set` (which must have 1 channel and labels < 256) as `{prefix}-images-idx3-ubyte` and
/// `{prefix}-labels-idx1-ubyte` in `dir` (`prefix` is `train` or `t10k` for [`crate::open`]),
/// each with `.gz` appended and gzipped when `gz`. Errors with `InvalidInput` on a set that IDX
/// cannot hold.
pub fn write_idx(set: &ImageSet, dir: &Path, prefix: &str, gz: bool) -> io::Result<()> {
    if set.channels != 1 {
        return Err(invalid(format!(
            "write_idx needs 1 channel, set has {}",
            set.channels
        )));
    }
    if set.pixels.len() != set.len * set.height * set.width || set.labels.len() != set.len {
        return Err(invalid(
            "ImageSet buffers do not match its len/height/width".into(),
        ));
    }
    let labels = set
        .labels
        .iter()
        .map(|&l| u8::try_from(l).map_err(|_| invalid(format!("label {l} does not fit in u8"))))
        .collect::<io::Result<Vec<u8>>>()?;
    let ext = if gz { ".gz" } else { "" };
    let (n, h, w) = (dim_u32(set.len)?, dim_u32(set.height)?, dim_u32(set.width)?);
    let images_path = dir.join(format!("{prefix}-images-idx3-ubyte{ext}"));
    write_file(&images_path, gz, &[&[0, 0, 8, 3], &n, &h, &w, &set.pixels])?;
    let labels_path = dir.join(format!("{prefix}-labels-idx1-ubyte{ext}"));
    write_file(&labels_path, gz, &[&[0, 0, 8, 1], &n, &labels])
}
