//! The ONNX messages synface writes (`onnx.proto` field numbers): tensors, attributes, nodes,
//! value infos, the graph and the model. Only the fields used are encoded.

use super::proto::Msg;

/// `TensorProto.DataType` values.
pub const FLOAT: i64 = 1;
pub const INT64: i64 = 7;

/// `AttributeProto.AttributeType` values.
const ATTR_FLOAT: i64 = 1;
const ATTR_INT: i64 = 2;
const ATTR_INTS: i64 = 7;

/// A float tensor (an initializer), data as little-endian `raw_data`.
pub fn tensor_f32(name: &str, dims: &[i64], data: &[f32]) -> Msg {
    let raw: Vec<u8> = data.iter().flat_map(|x| x.to_le_bytes()).collect();
    let mut m = Msg::new();
    m.ints(1, dims).int(2, FLOAT).string(8, name).bytes(9, &raw);
    m
}

/// An int64 tensor (an initializer).
pub fn tensor_i64(name: &str, dims: &[i64], data: &[i64]) -> Msg {
    let raw: Vec<u8> = data.iter().flat_map(|x| x.to_le_bytes()).collect();
    let mut m = Msg::new();
    m.ints(1, dims).int(2, INT64).string(8, name).bytes(9, &raw);
    m
}

pub fn attr_int(name: &str, v: i64) -> Msg {
    let mut m = Msg::new();
    m.string(1, name).int(3, v).int(20, ATTR_INT);
    m
}

pub fn attr_ints(name: &str, vs: &[i64]) -> Msg {
    let mut m = Msg::new();
    m.string(1, name).ints(8, vs).int(20, ATTR_INTS);
    m
}

pub fn attr_float(name: &str, v: f32) -> Msg {
    let mut m = Msg::new();
    m.string(1, name).float(2, v).int(20, ATTR_FLOAT);
    m
}

/// A node of the default (`ai.onnx`) domain.
pub fn node(op: &str, name: &str, inputs: &[&str], outputs: &[&str], attrs: &[Msg]) -> Msg {
    let mut m = Msg::new();
    for i in inputs {
        m.string(1, i);
    }
    for o in outputs {
        m.string(2, o);
    }
    m.string(3, name).string(4, op);
    for a in attrs {
        m.msg(5, a);
    }
    m
}

/// One dimension of a declared shape: fixed, or named (symbolic, e.g. the batch).
pub enum Dim {
    Fixed(i64),
    Named(&'static str),
}

/// A graph input or output: a float tensor of the given shape.
pub fn value_info(name: &str, dims: &[Dim]) -> Msg {
    let mut shape = Msg::new();
    for d in dims {
        let mut dim = Msg::new();
        match d {
            Dim::Fixed(v) => dim.int(1, *v),
            Dim::Named(s) => dim.string(2, s),
        };
        shape.msg(1, &dim);
    }
    let mut tensor = Msg::new();
    tensor.int(1, FLOAT).msg(2, &shape);
    let mut ty = Msg::new();
    ty.msg(1, &tensor);
    let mut m = Msg::new();
    m.string(1, name).msg(2, &ty);
    m
}

/// A graph's parts.
pub struct Graph {
    pub name: String,
    pub doc: String,
    pub nodes: Vec<Msg>,
    pub initializers: Vec<Msg>,
    pub inputs: Vec<Msg>,
    pub outputs: Vec<Msg>,
}

impl Graph {
    fn encode(&self) -> Msg {
        let mut m = Msg::new();
        for n in &self.nodes {
            m.msg(1, n);
        }
        m.string(2, &self.name);
        for t in &self.initializers {
            m.msg(5, t);
        }
        m.string(10, &self.doc);
        for i in &self.inputs {
            m.msg(11, i);
        }
        for o in &self.outputs {
            m.msg(12, o);
        }
        m
    }
}

/// IR version 8 (ONNX 1.10+), read by every current runtime.
pub const IR_VERSION: i64 = 8;
/// The operator set the graph uses (ONNX 1.8+; onnxruntime 1.6+).
pub const OPSET: i64 = 13;

/// A whole model: the graph, the opset, producer and `metadata_props` (key, value).
pub fn model(graph: &Graph, producer_version: &str, metadata: &[(String, String)]) -> Vec<u8> {
    let mut opset = Msg::new();
    opset.string(1, "").int(2, OPSET);
    let mut m = Msg::new();
    m.int(1, IR_VERSION)
        .string(2, "synface")
        .string(3, producer_version)
        .string(6, &graph.doc)
        .msg(7, &graph.encode())
        .msg(8, &opset);
    for (k, v) in metadata {
        let mut e = Msg::new();
        e.string(1, k).string(2, v);
        m.msg(14, &e);
    }
    m.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_int_attribute_has_name_value_and_type() {
        let bytes = attr_int("group", 4).into_bytes();
        // name (field 1, "group"), i (field 3, 4), type (field 20 = tag 0xa0 0x01, INT = 2).
        assert_eq!(
            bytes,
            [0x0a, 5, b'g', b'r', b'o', b'u', b'p', 0x18, 4, 0xa0, 0x01, 2]
        );
    }

    #[test]
    fn a_tensor_holds_dims_type_name_and_raw_bytes() {
        let bytes = tensor_f32("w", &[2], &[1.0, 2.0]).into_bytes();
        assert_eq!(&bytes[..6], &[0x08, 2, 0x10, 1, 0x42, 1]);
        assert_eq!(bytes[6], b'w');
        assert_eq!(&bytes[7..9], &[0x4a, 8]);
        assert_eq!(&bytes[9..], &[0, 0, 0x80, 0x3f, 0, 0, 0, 0x40]);
    }
}
