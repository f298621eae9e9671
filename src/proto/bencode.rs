//! STUB: replaced by the bencode helper.
use std::collections::BTreeMap;

pub const MAX_DEPTH: usize = 64;

#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Value {
    Int(i64),
    Bytes(Vec<u8>),
    List(Vec<Value>),
    Dict(BTreeMap<Vec<u8>, Value>),
}

#[derive(Debug, thiserror::Error)]
pub enum BencodeError {
    #[error("invalid bencode: {0}")]
    Invalid(String),
}

pub fn decode(_buf: &[u8]) -> Result<Value, BencodeError> {
    todo!()
}
pub fn decode_prefix(_buf: &[u8]) -> Result<Option<(Value, usize)>, BencodeError> {
    todo!()
}
pub fn encode(_v: &Value) -> Vec<u8> {
    todo!()
}
pub fn to_json(_v: &Value) -> String {
    todo!()
}
impl Value {
    pub fn get(&self, _key: &[u8]) -> Option<&Value> {
        todo!()
    }
    pub fn as_int(&self) -> Option<i64> {
        todo!()
    }
    pub fn as_bytes(&self) -> Option<&[u8]> {
        todo!()
    }
    pub fn as_str(&self) -> Option<&str> {
        todo!()
    }
    pub fn as_list(&self) -> Option<&[Value]> {
        todo!()
    }
    pub fn as_dict(&self) -> Option<&BTreeMap<Vec<u8>, Value>> {
        todo!()
    }
}
