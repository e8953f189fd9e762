//! Traces over OpenTelemetry: when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, `airun serve` exports the pipeline's
//! call and stage spans (target [`TRACE_TARGET`]) over OTLP/HTTP (protobuf), batched off
//! the calls' path. Otherwise nothing is set up and the spans cost only a disabled
//! callsite check. `OTEL_SDK_DISABLED=true` turns it off too; the exporter reads the
//! other standard `OTEL_EXPORTER_OTLP_*` variables (headers, timeout) itself.

use crate::error::CapError;
use crate::pipeline::TRACE_TARGET;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::SpanExporter;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor;

/// True when the environment asks for traces.
pub fn wanted() -> bool {
    let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.trim().is_empty());
    let disabled = std::env::var("OTEL_SDK_DISABLED").is_ok_and(|v| v.eq_ignore_ascii_case("true"));
    !disabled && (set("OTEL_EXPORTER_OTLP_ENDPOINT") || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
}

/// The tracer provider and the `tracing` layer that feeds it the pipeline's spans. Must
/// be called inside the Tokio runtime (the batch exporter runs on it).
pub fn start<S>() -> Result<(SdkTracerProvider, impl tracing_subscriber::Layer<S>), CapError>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    use tracing_subscriber::Layer as _;
    let exporter = SpanExporter::builder().with_http().build().map_err(|e| {
        CapError::new(
            crate::error::ErrorKind::InvalidInput,
            format!("cannot set up the OTLP trace exporter: {e}"),
        )
        .with_hint("check OTEL_EXPORTER_OTLP_ENDPOINT (e.g. http://127.0.0.1:4318), or unset it to run without traces")
    })?;
    let processor =
        BatchSpanProcessor::builder(exporter, opentelemetry_sdk::runtime::Tokio).build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_resource(
            opentelemetry_sdk::Resource::builder()
                .with_service_name("airun")
                .with_attribute(opentelemetry::KeyValue::new(
                    "service.version",
                    env!("CARGO_PKG_VERSION"),
                ))
                .build(),
        )
        .build();
    let layer = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("airun"))
        .with_filter(
            tracing_subscriber::filter::Targets::new()
                .with_target(TRACE_TARGET, tracing::Level::INFO),
        );
    Ok((provider, layer))
}
