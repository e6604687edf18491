//! Where a model's weights come from: the manifest's `[model.source]` resolved to a variant
//! and a file, the hub URL (`<base>/<repo>/resolve/<revision>/<file>`, base from `--base-url`,
//! `SHIHUA_MODELS_BASE_URL`, `HF_ENDPOINT` or the manifest) and ModelScope's URL.

use std::path::Path;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use super::error::FetchError;
use super::install::FetchOptions;
use crate::clip::manifest::{Manifest, ModelSpec, SourceSpec, VariantFile};

/// `SHIHUA_MODELS_SOURCE=modelscope`: what `--source modelscope` says, for `--fetch-missing`.
pub const SOURCE_ENV: &str = "SHIHUA_MODELS_SOURCE";

/// True when `SHIHUA_MODELS_SOURCE` asks for ModelScope.
pub fn modelscope_from_env() -> bool {
    std::env::var(SOURCE_ENV).is_ok_and(|v| v.trim().eq_ignore_ascii_case("modelscope"))
}

/// `<base>/<repo>/resolve/<revision>/<file>`.
pub fn file_url(base_url: &str, source: &SourceSpec, file: &str) -> String {
    format!(
        "{}/{}/resolve/{}/{}",
        base_url.trim_end_matches('/'),
        source.repo.trim_matches('/'),
        source.revision,
        file.trim_start_matches('/')
    )
}

/// ModelScope's own download endpoint, default `https://www.modelscope.cn` (its client's
/// `MODELSCOPE_DOMAIN` variable overrides it).
pub fn modelscope_endpoint() -> String {
    let domain = std::env::var("MODELSCOPE_DOMAIN")
        .ok()
        .filter(|d| !d.trim().is_empty())
        .unwrap_or_else(|| "www.modelscope.cn".into());
    let domain = domain.trim().trim_end_matches('/');
    if domain.starts_with("http://") || domain.starts_with("https://") {
        domain.to_string()
    } else {
        format!("https://{domain}")
    }
}

/// ModelScope's file URL (modelscope 1.40 `hub/file_download.py`, `get_file_download_url`):
/// `<endpoint>/api/v1/models/<model_id>/repo?Revision=<rev>&FilePath=<file>`. It answers
/// `Range` requests like the hub.
pub fn modelscope_url(endpoint: &str, model_id: &str, revision: &str, file: &str) -> String {
    // Everything but RFC 3986's unreserved characters is percent-encoded (a space as %20).
    const QUOTE: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    let quote = |s: &str| utf8_percent_encode(s, QUOTE).to_string();
    format!(
        "{}/api/v1/models/{}/repo?Revision={}&FilePath={}",
        endpoint.trim_end_matches('/'),
        model_id.trim_matches('/'),
        quote(revision),
        quote(file)
    )
}

/// Which source and variant `spec` is fetched from, or why it cannot be.
pub fn resolve_source<'a>(
    spec: &'a ModelSpec,
    model_dir: &Path,
    variant: Option<&str>,
) -> Result<(&'a SourceSpec, String, &'a VariantFile), FetchError> {
    let dir = model_dir.join(&spec.id);
    if spec.fixture {
        return Err(FetchError::Fixture {
            id: spec.id.clone(),
        });
    }
    let Some(source) = &spec.source else {
        return Err(FetchError::NoSource {
            id: spec.id.clone(),
            dir,
        });
    };
    if !source.onnx {
        return Err(FetchError::ExportRequired {
            id: spec.id.clone(),
            repo: source.repo.clone(),
            dir,
        });
    }
    let name = match variant {
        Some(v) => v.to_string(),
        None => source.default_variant_name().unwrap_or("fp32").to_string(),
    };
    let file = source
        .variants
        .get(&name)
        .ok_or_else(|| FetchError::UnknownVariant {
            id: spec.id.clone(),
            variant: name.clone(),
            known: source
                .variants
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
        })?;
    Ok((source, name, file))
}

/// The download base URL: `opts.base_url`, else the manifest's (environment included).
pub(crate) fn base_url(manifest: &Manifest, opts: &FetchOptions) -> String {
    opts.base_url
        .as_deref()
        .map(|b| b.trim().trim_end_matches('/').to_string())
        .unwrap_or_else(|| manifest.base_url())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_follow_the_hub_layout() {
        let (m, _) = crate::models::project_models();
        let spec = m.find("ViT-B-16").unwrap();
        let (src, variant, file) = resolve_source(spec, Path::new("models"), None).unwrap();
        assert_eq!(variant, "fp32");
        assert_eq!(
            file_url("https://huggingface.co/", src, &file.file),
            "https://huggingface.co/Xenova/chinese-clip-vit-base-patch16/resolve/\
             f26904860903e70e050b8f48255e5f48401816e9/onnx/model.onnx"
        );
        let (_, _, q) = resolve_source(spec, Path::new("models"), Some("int8")).unwrap();
        assert_eq!(q.file, "onnx/model_quantized.onnx");
        let err = resolve_source(spec, Path::new("models"), Some("fp8"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("fp16, fp32, int8"), "{err}");
        let err = resolve_source(m.find("ViT-L-14").unwrap(), Path::new("models"), None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("models/export") && err.contains("OFA-Sys"),
            "{err}"
        );
        let err = resolve_source(m.find("RN50").unwrap(), Path::new("models"), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("models/export"), "{err}");
    }

    #[test]
    fn modelscope_urls_follow_its_client() {
        // modelscope 1.40.2 hub/file_download.py get_file_download_url (quote_plus of both).
        assert_eq!(
            modelscope_url(
                "https://www.modelscope.cn/",
                "AI-ModelScope/chinese-clip-vit-huge-patch14",
                "master",
                "clip_cn_vit-h-14.pt"
            ),
            "https://www.modelscope.cn/api/v1/models/AI-ModelScope/chinese-clip-vit-huge-patch14/\
             repo?Revision=master&FilePath=clip_cn_vit-h-14.pt"
        );
        assert_eq!(
            modelscope_url("http://m", "a/b", "v 1", "x/y+z.pt"),
            "http://m/api/v1/models/a/b/repo?Revision=v%201&FilePath=x%2Fy%2Bz.pt"
        );
    }
}
