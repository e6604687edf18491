//! Working on ONNX files without an onnx library: the protobuf codec ([`pb`]), the graph as
//! the split reads it ([`graph`]), cutting a combined Chinese-CLIP graph into its two towers
//! ([`split`], at install time) and re-encoding uint8 int8 weights as signed int8
//! ([`int8_signed`], made at first load on a CPU with VNNI/AMX and cached beside the graph).

pub mod graph;
pub mod int8_signed;
pub mod pb;
pub mod split;
