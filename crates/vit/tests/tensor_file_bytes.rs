//! The same tensors and metadata always make the same file, byte for byte (safetensors keeps
//! its metadata in a `HashMap`, whose order changes from one write to the next).

use std::collections::BTreeMap;

use sweet_vit::names::HostTensor;
use sweet_vit::tensor_file;

#[test]
fn the_same_content_writes_the_same_bytes_and_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let tensors: Vec<(String, HostTensor)> = ["b.weight", "a.bias", "c"]
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let t = HostTensor {
                shape: vec![2, i + 1],
                values: (0..2 * (i + 1))
                    .map(|v| v as f32 * 0.5 - i as f32)
                    .collect(),
            };
            (k.to_string(), t)
        })
        .collect();
    let metadata: BTreeMap<String, String> = (0..12)
        .map(|i| (format!("key{i:02}"), format!("value {i}")))
        .collect();
    let mut files = Vec::new();
    for i in 0..8 {
        let path = dir.path().join(format!("{i}.safetensors"));
        tensor_file::write(&path, &tensors, &metadata).unwrap();
        files.push(std::fs::read(&path).unwrap());
    }
    assert!(
        files.iter().all(|f| *f == files[0]),
        "the bytes differ between writes"
    );
    // metadata keys in sorted order in the header
    let n = u64::from_le_bytes(files[0][..8].try_into().unwrap()) as usize;
    let header = std::str::from_utf8(&files[0][8..8 + n]).unwrap();
    let at: Vec<usize> = (0..12)
        .map(|i| header.find(&format!("\"key{i:02}\"")).unwrap())
        .collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{header}");
    let back = tensor_file::read(&dir.path().join("0.safetensors")).unwrap();
    assert_eq!(back.metadata, metadata);
    for (k, t) in &tensors {
        let b = &back.tensors[k];
        assert_eq!((&b.shape, &b.values), (&t.shape, &t.values));
    }
}
