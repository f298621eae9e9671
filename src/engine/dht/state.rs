//! The state file: our node id and the nodes worth trying first next time, bencoded (`id`, and
//! `nodes` in compact form). Reading is lenient and writing goes through a temporary file and a
//! rename, so a crash or a damaged file never costs more than a fresh id or a slower bootstrap.

use crate::proto::bencode::{self, Value};
use crate::proto::id::NodeId;
use crate::proto::krpc::{self, CompactNode};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `$XDG_DATA_HOME/fast-peer/dht.dat`, else `~/.local/share/fast-peer/dht.dat`.
pub fn default_state_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local").join("share"))
        })?;
    Some(base.join("fast-peer").join("dht.dat"))
}

/// The saved state: our id and the nodes worth trying first next time.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SavedState {
    pub id: Option<NodeId>,
    pub nodes: Vec<CompactNode>,
}

impl SavedState {
    pub fn encode(&self) -> Vec<u8> {
        let mut d = BTreeMap::new();
        if let Some(id) = self.id {
            d.insert(b"id".to_vec(), Value::Bytes(id.0.to_vec()));
        }
        d.insert(
            b"nodes".to_vec(),
            Value::Bytes(krpc::encode_nodes(&self.nodes)),
        );
        bencode::encode(&Value::Dict(d))
    }

    /// Lenient on purpose: a damaged file only costs a fresh id or a slower bootstrap.
    pub fn decode(b: &[u8]) -> SavedState {
        let Ok(v) = bencode::decode(b) else {
            return SavedState::default();
        };
        let id = v
            .get(b"id")
            .and_then(Value::as_bytes)
            .and_then(NodeId::from_slice);
        let nodes = v
            .get(b"nodes")
            .and_then(Value::as_bytes)
            .and_then(|n| krpc::decode_nodes(n).ok())
            .unwrap_or_default();
        SavedState { id, nodes }
    }

    pub fn load(path: &Path) -> SavedState {
        std::fs::read(path)
            .map(|b| SavedState::decode(&b))
            .unwrap_or_default()
    }

    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, self.encode())?;
        std::fs::rename(&tmp, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_file_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("dht.dat");
        let s = SavedState {
            id: Some(NodeId([4; 20])),
            nodes: vec![CompactNode {
                id: NodeId([5; 20]),
                addr: "127.0.0.5:1234".parse().unwrap(),
            }],
        };
        s.save(&path).unwrap();
        assert_eq!(SavedState::load(&path), s);
        std::fs::write(&path, b"garbage").unwrap();
        assert_eq!(SavedState::load(&path), SavedState::default());
    }
}
