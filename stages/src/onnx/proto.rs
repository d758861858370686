//! A minimal protocol-buffers encoder: just what writing an ONNX model needs (varints,
//! 32-bit floats, length-delimited bytes, strings and nested messages). Fields are written in
//! the order they are added; repeated scalars are written unpacked, which every protobuf
//! parser accepts for proto2 files such as `onnx.proto`.

/// Wire types of the encoding.
const VARINT: u32 = 0;
const LEN: u32 = 2;
const FIXED32: u32 = 5;

/// One message being encoded.
#[derive(Debug, Default, Clone)]
pub struct Msg {
    buf: Vec<u8>,
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

impl Msg {
    pub fn new() -> Self {
        Self::default()
    }

    fn tag(&mut self, field: u32, wire: u32) {
        varint(&mut self.buf, u64::from(field << 3 | wire));
    }

    /// An `int32`/`int64`/enum field (negative values as ten-byte two's complement).
    pub fn int(&mut self, field: u32, v: i64) -> &mut Self {
        self.tag(field, VARINT);
        varint(&mut self.buf, v as u64);
        self
    }

    /// Each value as its own `int64` field (an unpacked repeated field).
    pub fn ints(&mut self, field: u32, vs: &[i64]) -> &mut Self {
        for &v in vs {
            self.int(field, v);
        }
        self
    }

    /// A `float` field.
    pub fn float(&mut self, field: u32, v: f32) -> &mut Self {
        self.tag(field, FIXED32);
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// A `bytes` field.
    pub fn bytes(&mut self, field: u32, b: &[u8]) -> &mut Self {
        self.tag(field, LEN);
        varint(&mut self.buf, b.len() as u64);
        self.buf.extend_from_slice(b);
        self
    }

    /// A `string` field.
    pub fn string(&mut self, field: u32, s: &str) -> &mut Self {
        self.bytes(field, s.as_bytes())
    }

    /// A nested message field.
    pub fn msg(&mut self, field: u32, m: &Msg) -> &mut Self {
        self.bytes(field, &m.buf)
    }

    /// The encoded bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_the_protobuf_documentation_examples() {
        // From the protobuf encoding guide: field 1 = 150 is `08 96 01`.
        assert_eq!(
            Msg::new().int(1, 150).clone().into_bytes(),
            [0x08, 0x96, 0x01]
        );
        // Field 2 = "testing" is `12 07 74 65 73 74 69 6e 67`.
        assert_eq!(
            Msg::new().string(2, "testing").clone().into_bytes(),
            [0x12, 0x07, b't', b'e', b's', b't', b'i', b'n', b'g']
        );
        // A nested message: field 3 holding {1: 150} is `1a 03 08 96 01`.
        let mut inner = Msg::new();
        inner.int(1, 150);
        assert_eq!(
            Msg::new().msg(3, &inner).clone().into_bytes(),
            [0x1a, 0x03, 0x08, 0x96, 0x01]
        );
    }

    #[test]
    fn negative_ints_and_floats() {
        let b = Msg::new().int(1, -1).clone().into_bytes();
        assert_eq!(b.len(), 1 + 10, "negative varints take ten bytes");
        assert_eq!(
            &b[1..],
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]
        );
        assert_eq!(
            Msg::new().float(2, 1.0).clone().into_bytes(),
            [0x15, 0x00, 0x00, 0x80, 0x3f]
        );
        assert_eq!(
            Msg::new().ints(8, &[1, 2]).clone().into_bytes(),
            [0x40, 1, 0x40, 2]
        );
    }
}
