//! Tests of the tower split, on the fixture's combined graph and on hand-built graphs.

use super::*;

fn combined() -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/fixture/combined.onnx"))
        .expect("models/fixture/combined.onnx (models/scripts/make_fixtures.py)")
}

fn split(model: &[u8], tower: Tower) -> Vec<u8> {
    let mut out = Vec::new();
    extract_tower(model, tower, "test", &mut out).unwrap();
    out
}

#[test]
fn towers_have_one_input_and_one_output() {
    let model = combined();
    let (ins, outs) = interface(&model).unwrap();
    assert_eq!(ins, ["input_ids", "pixel_values", "attention_mask"]);
    assert!(outs.contains(&"text_embeds".to_string()));

    let image = split(&model, Tower::Image);
    assert_eq!(
        interface(&image).unwrap(),
        (vec!["pixel_values".into()], vec!["image_embeds".into()])
    );
    let text = split(&model, Tower::Text);
    assert_eq!(
        interface(&text).unwrap(),
        (vec!["input_ids".into()], vec!["text_embeds".into()])
    );
    // No text weights in the image graph and no vision weights in the text graph.
    let g = parse_graph(pb::model_graph(&image).unwrap()).unwrap();
    assert!(g.initializers.iter().all(|(n, _)| n.starts_with("vision.")));
    assert!(g.nodes.iter().all(|n| !n.inputs.contains(&"input_ids")));
    let g = parse_graph(pb::model_graph(&text).unwrap()).unwrap();
    assert!(g.initializers.iter().all(|(n, _)| n.starts_with("text.")));
    assert!(g
        .nodes
        .iter()
        .any(|n| n.outputs.contains(&"attention_mask")));
    // The text embedding table (1.35 MB) is copied, not re-encoded.
    assert!(text.len() > 1_300_000 && image.len() < 500_000);
}

#[test]
fn splitting_is_deterministic_and_idempotent() {
    let model = combined();
    let text = split(&model, Tower::Text);
    assert_eq!(text, split(&model, Tower::Text));
    // Splitting a split graph again changes nothing but is allowed.
    let again = split(&text, Tower::Text);
    assert_eq!(
        interface(&again).unwrap(),
        (vec!["input_ids".into()], vec!["text_embeds".into()])
    );
}

fn value_info(name: &str, elem: i32) -> Vec<u8> {
    let mut tt = Vec::new();
    pb::put_uint(&mut tt, TENSOR_TYPE_ELEM, elem as u64);
    let mut ty = Vec::new();
    pb::put_bytes(&mut ty, TYPE_TENSOR, &tt);
    let mut v = Vec::new();
    pb::put_bytes(&mut v, VALUE_INFO_NAME, name.as_bytes());
    pb::put_bytes(&mut v, VALUE_INFO_TYPE, &ty);
    v
}

/// A combined graph with what an fp16 export without kept I/O types, or another BERT
/// export, may have: float16 pixels and image output, int32 ids, token_type_ids.
fn odd_combined() -> Vec<u8> {
    let cast =
        |i: &str, o: &str, to: i32| node("Cast", o, &[i], &[o], &[attr_int("to", to as i64)]);
    let nodes = [
        cast("input_ids", "ids64", INT64),
        node(
            "Add",
            "m",
            &["attention_mask", "token_type_ids"],
            &["m"],
            &[],
        ),
        cast("m", "mf", FLOAT),
        cast("ids64", "idsf", FLOAT),
        node("Mul", "te", &["idsf", "mf"], &["text_embeds"], &[]),
        cast("pixel_values", "pv", FLOAT),
        cast("pv", "image_embeds", FLOAT16),
    ];
    let mut g = Vec::new();
    for n in &nodes {
        pb::put_bytes(&mut g, GRAPH_NODE, n);
    }
    pb::put_bytes(&mut g, 2, b"odd");
    for (name, t) in [
        ("input_ids", INT32),
        ("attention_mask", INT64),
        ("token_type_ids", INT64),
        ("pixel_values", FLOAT16),
    ] {
        pb::put_bytes(&mut g, GRAPH_INPUT, &value_info(name, t));
    }
    pb::put_bytes(&mut g, GRAPH_OUTPUT, &value_info("text_embeds", FLOAT));
    pb::put_bytes(&mut g, GRAPH_OUTPUT, &value_info("image_embeds", FLOAT16));
    let mut opset = Vec::new();
    pb::put_bytes(&mut opset, 1, b"");
    pb::put_uint(&mut opset, 2, 17);
    let mut m = Vec::new();
    pb::put_uint(&mut m, 1, 8);
    pb::put_bytes(&mut m, 8, &opset);
    pb::put_bytes(&mut m, MODEL_GRAPH, &g);
    m
}

fn io_types(model: &[u8]) -> (Vec<Option<i32>>, Vec<Option<i32>>) {
    let g = parse_graph(pb::model_graph(model).unwrap()).unwrap();
    (
        g.inputs.iter().map(|v| v.elem_type).collect(),
        g.outputs.iter().map(|v| v.elem_type).collect(),
    )
}

#[test]
fn other_io_types_and_token_type_ids_are_adapted() {
    let model = odd_combined();
    let image = split(&model, Tower::Image);
    assert_eq!(
        interface(&image).unwrap(),
        (vec!["pixel_values".into()], vec!["image_embeds".into()])
    );
    assert_eq!(io_types(&image), (vec![Some(FLOAT)], vec![Some(FLOAT)]));
    let text = split(&model, Tower::Text);
    assert_eq!(
        interface(&text).unwrap(),
        (vec!["input_ids".into()], vec!["text_embeds".into()])
    );
    assert_eq!(io_types(&text), (vec![Some(INT64)], vec![Some(FLOAT)]));
    let g = parse_graph(pb::model_graph(&text).unwrap()).unwrap();
    let ops: Vec<String> = g
        .nodes
        .iter()
        .map(|n| {
            let op = n.fields.iter().find(|f| f.num == NODE_OP_TYPE).unwrap();
            format!("{}->{}", op.string().unwrap(), n.outputs.join(","))
        })
        .collect();
    for want in [
        "Cast->input_ids/shihua_int32",
        "Cast->attention_mask",
        "ConstantOfShape->token_type_ids",
        "Cast->ids64",
    ] {
        assert!(ops.iter().any(|o| o == want), "{want} not in {ops:?}");
    }
    // The original cast now reads the int32 copy.
    let first = g.nodes.iter().find(|n| n.outputs == ["ids64"]).unwrap();
    assert_eq!(first.inputs, ["input_ids/shihua_int32"]);
}

#[test]
fn a_graph_without_the_towers_is_refused_clearly() {
    let model = combined();
    let image = split(&model, Tower::Image);
    let err = extract_tower(&image, Tower::Text, "t", &mut Vec::new())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("text_embeds") && err.contains("image_embeds"),
        "{err}"
    );
    let err = extract_tower(b"not onnx at all", Tower::Image, "t", &mut Vec::new())
        .unwrap_err()
        .to_string();
    assert!(err.contains("not an ONNX model"), "{err}");
}
