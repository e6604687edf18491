//! Tests of the int8 re-encoding: exact values, shared weights left alone, the cache.

use super::*;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../models/fixture")
            .join(name),
    )
    .expect("models/fixture (models/scripts/make_fixture_int8.py)")
}

/// name -> (data_type, values as i64, in order)
fn tensors(model: &[u8]) -> HashMap<String, (i32, Vec<i64>)> {
    let mut out = HashMap::new();
    for f in pb::fields(pb::model_graph(model).unwrap()).unwrap() {
        if f.num != GRAPH_INITIALIZER {
            continue;
        }
        let (name, init) = parse_init(f.bytes().unwrap()).unwrap();
        let dt = init.data_type.unwrap();
        let mut vals = Vec::new();
        for tf in &init.fields {
            match tf.num {
                TENSOR_RAW_DATA if dt == UINT8 => {
                    vals.extend(tf.bytes().unwrap().iter().map(|&b| i64::from(b)))
                }
                TENSOR_RAW_DATA if dt == INT8 => {
                    vals.extend(tf.bytes().unwrap().iter().map(|&b| i64::from(b as i8)))
                }
                TENSOR_INT32_DATA => int32_values(tf, &mut vals).unwrap(),
                _ => {}
            }
        }
        out.insert(name.to_string(), (dt, vals));
    }
    out
}

fn weight_pairs(model: &[u8]) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    for f in pb::fields(pb::model_graph(model).unwrap()).unwrap() {
        if f.num != GRAPH_NODE {
            continue;
        }
        let mut op = "";
        let mut inputs = Vec::new();
        for nf in pb::fields(f.bytes().unwrap()).unwrap() {
            match nf.num {
                NODE_OP_TYPE => op = nf.string().unwrap(),
                NODE_INPUT => inputs.push(nf.string().unwrap().to_string()),
                _ => {}
            }
        }
        if WEIGHT_OPS.contains(&op) && inputs.len() > B_ZERO_POINT {
            pairs.push((inputs[B].clone(), inputs[B_ZERO_POINT].clone()));
        }
    }
    pairs
}

#[test]
fn every_weight_keeps_its_real_value() {
    for tower in ["image.int8.onnx", "text.int8.onnx"] {
        let model = fixture(tower);
        let mut out = Vec::new();
        let report = reencode(&model, &mut out).unwrap();
        let pairs = weight_pairs(&model);
        assert!(!pairs.is_empty(), "{tower} has no MatMulInteger weights");
        assert_eq!(report.nodes, pairs.len(), "{tower}: {report:?}");
        assert_eq!(report.kept, 0, "{tower}: {report:?}");
        let before = tensors(&model);
        let after = tensors(&out);
        assert_eq!(before.len(), after.len());
        let mut checked = 0;
        for (b, zp) in &pairs {
            let (bt, bq) = &before[b];
            let (zt, bz) = &before[zp];
            let (at, aq) = &after[b];
            let (azt, az) = &after[zp];
            assert_eq!((*bt, *zt, *at, *azt), (UINT8, UINT8, INT8, INT8), "{b}");
            assert_eq!(bq.len(), aq.len());
            // Per-tensor (one zero point) or per-channel (one per column).
            let zp_of = |z: &Vec<i64>, k: usize| z[if z.len() == 1 { 0 } else { k % z.len() }];
            for k in 0..bq.len() {
                assert_eq!(
                    bq[k] - zp_of(bz, k),
                    aq[k] - zp_of(az, k),
                    "{tower} {b}[{k}]: q - zp changed"
                );
                assert!((-128..=127).contains(&aq[k]));
            }
            checked += bq.len();
        }
        assert!(checked > 1000, "{tower}: only {checked} weights checked");
        // Nothing else changed: the rest of the tensors are byte-identical.
        let flipped: HashSet<&String> = pairs.iter().flat_map(|(b, z)| [b, z]).collect();
        for (name, t) in &before {
            if !flipped.contains(name) {
                assert_eq!(t, &after[name], "{name} changed");
            }
        }
        // Re-encoding the result finds nothing left to flip.
        let mut again = Vec::new();
        let second = reencode(&out, &mut again).unwrap();
        assert_eq!((second.tensors, second.kept), (0, report.nodes));
        assert!(again.is_empty());
        assert!(second.kept_why[0].contains("already int8"), "{second:?}");
    }
}

#[test]
fn the_pattern_covers_all_256_values() {
    // Every uint8 q and zero point z: (q ^ 0x80) as i8 - (z ^ 0x80) as i8 == q - z.
    for q in 0..=255u8 {
        for z in [0u8, 1, 127, 128, 200, 255] {
            let before = i32::from(q) - i32::from(z);
            let after = i32::from((q ^ 0x80) as i8) - i32::from((z ^ 0x80) as i8);
            assert_eq!(before, after, "q={q} z={z}");
        }
    }
    // int32_data storage (non-raw) is re-encoded too.
    let mut t = Vec::new();
    pb::put_uint(&mut t, TENSOR_DATA_TYPE, UINT8 as u64);
    pb::put_bytes(&mut t, TENSOR_NAME, b"w");
    let mut packed = Vec::new();
    for v in [0u64, 128, 255] {
        pb::put_varint(&mut packed, v);
    }
    pb::put_bytes(&mut t, TENSOR_INT32_DATA, &packed);
    let (_, init) = parse_init(&t).unwrap();
    let signed = signed_tensor(&init).unwrap();
    let (_, init) = parse_init(&signed).unwrap();
    assert_eq!(init.data_type, Some(INT8));
    let mut vals = Vec::new();
    for f in &init.fields {
        if f.num == TENSOR_INT32_DATA {
            int32_values(f, &mut vals).unwrap();
        }
    }
    let vals: Vec<i32> = vals.into_iter().map(|v| v as i32).collect();
    assert_eq!(vals, [-128, 0, 127]);
}

#[test]
fn a_weight_read_by_another_op_is_left_alone() {
    // MatMulInteger(a, w, , w_zp) and Identity(w): w must stay uint8, with its zero point.
    let node = |op: &str, inputs: &[&str], out: &str| {
        let mut n = Vec::new();
        for i in inputs {
            pb::put_bytes(&mut n, NODE_INPUT, i.as_bytes());
        }
        pb::put_bytes(&mut n, 2, out.as_bytes());
        pb::put_bytes(&mut n, NODE_OP_TYPE, op.as_bytes());
        n
    };
    let tensor = |name: &str| {
        let mut t = Vec::new();
        pb::put_uint(&mut t, 1, 1);
        pb::put_uint(&mut t, TENSOR_DATA_TYPE, UINT8 as u64);
        pb::put_bytes(&mut t, TENSOR_NAME, name.as_bytes());
        pb::put_bytes(&mut t, TENSOR_RAW_DATA, &[200]);
        t
    };
    let graph = |shared: bool| {
        let mut g = Vec::new();
        pb::put_bytes(
            &mut g,
            GRAPH_NODE,
            &node("MatMulInteger", &["a", "w", "", "w_zp"], "y"),
        );
        pb::put_bytes(
            &mut g,
            GRAPH_NODE,
            &node("MatMulInteger", &["a", "v", "", "v_zp"], "z"),
        );
        if shared {
            pb::put_bytes(&mut g, GRAPH_NODE, &node("Identity", &["w"], "w2"));
        }
        for t in ["w", "w_zp", "v", "v_zp"] {
            pb::put_bytes(&mut g, GRAPH_INITIALIZER, &tensor(t));
        }
        let mut m = Vec::new();
        pb::put_bytes(&mut m, MODEL_GRAPH, &g);
        m
    };
    let mut out = Vec::new();
    let all = reencode(&graph(false), &mut out).unwrap();
    assert_eq!((all.nodes, all.tensors, all.kept), (2, 4, 0));
    let mut out = Vec::new();
    let some = reencode(&graph(true), &mut out).unwrap();
    assert_eq!((some.nodes, some.tensors, some.kept), (1, 2, 1), "{some:?}");
    let t = tensors(&out);
    assert_eq!(t["w"], (UINT8, vec![200]));
    assert_eq!(t["w_zp"], (UINT8, vec![200]));
    assert_eq!(t["v"], (INT8, vec![72]));
    assert_eq!(t["v_zp"], (INT8, vec![72]));
}

#[test]
fn the_cache_is_made_once_and_again_when_the_source_changes() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("image.int8.onnx");
    std::fs::write(&src, fixture("image.int8.onnx")).unwrap();
    let first = ensure_signed(&src).unwrap();
    assert!(first.made_now);
    assert_eq!(first.path, dir.path().join("image.int8.s8.onnx"));
    assert!(dir.path().join("image.int8.s8.json").is_file());
    let second = ensure_signed(&src).unwrap();
    assert!(!second.made_now);
    assert_eq!(second.report, first.report);
    // A cache stamped by another re-encoding format: made again.
    let stamp = dir.path().join("image.int8.s8.json");
    let old = std::fs::read_to_string(&stamp)
        .unwrap()
        .replace("\"format\": 1", "\"format\": 0");
    std::fs::write(&stamp, old).unwrap();
    assert!(ensure_signed(&src).unwrap().made_now);
    assert!(!ensure_signed(&src).unwrap().made_now);
    // Another graph at the same path: made again.
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(&src, fixture("text.int8.onnx")).unwrap();
    let third = ensure_signed(&src).unwrap();
    assert!(third.made_now);
    let mut want = Vec::new();
    reencode(&fixture("text.int8.onnx"), &mut want).unwrap();
    assert_eq!(std::fs::read(&third.path).unwrap(), want);
    // A graph that is already signed is used as it is.
    std::fs::write(&src, &want).unwrap();
    let same = ensure_signed(&src).unwrap();
    assert_eq!(same.path, src);
    assert_eq!(same.report.tensors, 0);
    assert!(!dir.path().join("image.int8.s8.onnx").exists());
}
