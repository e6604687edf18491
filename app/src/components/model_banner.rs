//! The banner above the search: which model is answering, how many photos are indexed,
//! and a loud warning when the random-weight fixture model stands in for Chinese-CLIP.

use leptos::prelude::*;

use crate::search::{SearchError, ServerStatus};

#[component]
pub fn ModelBanner(status: Result<ServerStatus, SearchError>) -> impl IntoView {
    match status {
        Ok(s) => {
            let fixture = s.fixture.then(|| {
                view! {
                    <p class="banner warn" data-testid="fixture-banner" role="status">
                        "演示模式：当前使用随机权重的测试模型，结果没有意义。"
                        <br />
                        "Fixture model (random weights): results are NOT meaningful. "
                        "Supply the Chinese-CLIP files to get real retrieval (see README)."
                    </p>
                }
            });
            let empty = (s.rows == 0).then(|| {
                view! {
                    <p class="banner" data-testid="empty-banner">
                        "还没有索引任何照片 · no photos indexed yet — run "
                        <code>"shihua index <folder>"</code>
                    </p>
                }
            });
            view! {
                {fixture}
                {empty}
                <p class="model-line" data-testid="model-line">
                    {format!("模型 model: {} · 照片 photos: {}", s.model_id, s.rows)}
                </p>
            }
            .into_any()
        }
        Err(e) => view! {
            <p class="banner error" data-testid="status-error" role="alert">
                {e.to_string()}
            </p>
        }
        .into_any(),
    }
}
