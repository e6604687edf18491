//! Converting an official cn_clip checkpoint (`.pt`) into shihua's two ONNX graphs, without
//! torch.
//!
//! ViT-L-14, ViT-L-14-336, ViT-H-14 and RN50 are published only as cn_clip PyTorch checkpoints.
//! After `shihua models fetch` has downloaded and verified one ([`super::install`]), this runs
//! `models/convert/pt_to_onnx.py`, which reads the checkpoint's tensors (a restricted unpickler:
//! no code from the file runs) and writes cn_clip's architecture as ONNX with numpy + onnx only
//! (checked against cn_clip + torch by models/scripts/make_pt_tiny.py), then moves
//! `image.onnx` / `text.onnx` (plus the external-data file of a graph over 2 GB) into the model
//! folder. The manifest's embedding dim and input size are passed along and checked against
//! the checkpoint.
//!
//! Which Python runs it, first found: `SHIHUA_CONVERT_PYTHON`; the project's `.venv` (which
//! scripts/setup.sh fills from requirements.txt, onnx included) in the working directory or
//! the source tree; `python3`. `SHIHUA_CONVERT_SCRIPT` names another converter and
//! `SHIHUA_CONVERT_ARGS` adds arguments to it (space-separated; the tests use it for the head
//! width of their narrow model).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::clip::ModelSpec;

/// A Python with numpy + onnx.
pub const PYTHON_ENV: &str = "SHIHUA_CONVERT_PYTHON";
/// Another converter script.
pub const SCRIPT_ENV: &str = "SHIHUA_CONVERT_SCRIPT";
/// Extra arguments for the converter.
pub const ARGS_ENV: &str = "SHIHUA_CONVERT_ARGS";

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

fn source_tree() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `models/convert/pt_to_onnx.py`: `SHIHUA_CONVERT_SCRIPT`, else beside the model folder's
/// manifest (`<model-dir>/convert/`), else in the source tree this binary was built from.
pub fn script(model_dir: &Path) -> PathBuf {
    if let Some(p) = env_path(SCRIPT_ENV) {
        return p;
    }
    let beside = model_dir.join("convert").join("pt_to_onnx.py");
    if beside.is_file() {
        return beside;
    }
    source_tree().join("models/convert/pt_to_onnx.py")
}

/// The Python that runs the converter, checked to import numpy and onnx.
pub fn python() -> Result<PathBuf, String> {
    let candidates: Vec<PathBuf> = match env_path(PYTHON_ENV) {
        Some(p) => vec![p],
        None => {
            let mut v = Vec::new();
            if let Ok(cwd) = std::env::current_dir() {
                v.push(cwd.join(".venv/bin/python"));
            }
            v.push(source_tree().join(".venv/bin/python"));
            v.push(PathBuf::from("python3"));
            v
        }
    };
    let mut tried = Vec::new();
    for p in candidates {
        let ok = Command::new(&p)
            .args(["-c", "import numpy, onnx"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return Ok(p);
        }
        tried.push(p.display().to_string());
    }
    Err(format!(
        "no Python with numpy and onnx (tried {}): run scripts/setup.sh (it installs them into \
         .venv from requirements.txt), or set {PYTHON_ENV} to a Python that has them",
        tried.join(", ")
    ))
}

/// Run a command with its output on our stderr (stdout is for results).
fn run(cmd: &mut Command) -> Result<(), String> {
    let shown = format!("{cmd:?}");
    let status = cmd
        .stdout(std::io::stderr())
        .status()
        .map_err(|e| format!("could not run {shown}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{shown} failed ({status}); its output is above"))
    }
}

/// Convert `checkpoint` into `<dir>/image.onnx` + `text.onnx`, replacing what is there only
/// once the conversion has succeeded.
/// `int8`: the int8 graphs (`image.int8.onnx`, `text.int8.onnx`, dynamically quantised)
/// instead of the float32 ones.
pub fn convert(spec: &ModelSpec, checkpoint: &Path, dir: &Path, int8: bool) -> Result<(), String> {
    let script = script(dir.parent().unwrap_or(Path::new(".")));
    if !script.is_file() {
        return Err(format!("{} is missing", script.display()));
    }
    let python = python()?;
    let tmp = dir.join(".convert");
    let _ = fs::remove_dir_all(&tmp);
    let mut cmd = Command::new(&python);
    cmd.arg(&script)
        .arg("--checkpoint")
        .arg(checkpoint)
        .arg("--out")
        .arg(&tmp)
        .args(["--model", &spec.id])
        .args(["--expect-dim", &spec.embed_dim.to_string()])
        .args(["--expect-size", &spec.image_size.to_string()]);
    if int8 {
        cmd.arg("--int8");
    }
    if let Ok(extra) = std::env::var(ARGS_ENV) {
        cmd.args(extra.split_whitespace());
    }
    eprintln!(
        "converting {} into ONNX graphs ({})",
        checkpoint.display(),
        script.display()
    );
    let result = run(&mut cmd).and_then(|()| {
        let suffix = if int8 { "int8.onnx" } else { "onnx" };
        for tower in ["image", "text"] {
            if !tmp.join(format!("{tower}.{suffix}")).is_file() {
                return Err(format!("the converter wrote no {tower}.{suffix}"));
            }
        }
        // The data files first, the graphs last: a graph never points at missing weights.
        let mut names: Vec<_> = fs::read_dir(&tmp)
            .map_err(|e| e.to_string())?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name())
            .filter(|n| {
                let n = n.to_string_lossy();
                // Only the asked-for variant's files: the other slot keeps what it has.
                !n.starts_with('.') && (n.contains(".int8.") == int8)
            })
            .collect();
        names.sort_by_key(|n| n.to_string_lossy().ends_with(".onnx"));
        for name in names {
            fs::rename(tmp.join(&name), dir.join(&name)).map_err(|e| {
                format!(
                    "moving {} into {}: {e}",
                    name.to_string_lossy(),
                    dir.display()
                )
            })?;
        }
        Ok(())
    });
    let _ = fs::remove_dir_all(&tmp);
    result
}
