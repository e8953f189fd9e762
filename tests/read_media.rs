//! `io.fs.read_media`: media types from content and extension, the size cap, sandbox
//! refusals, the one-line summary on a terminal, and over MCP (a real rmcp client against
//! `airun serve --mcp`): image, audio and resource content, with structuredContent valid
//! against the output schema.

mod support;

use airun::ErrorKind;
use base64::Engine;
use rmcp::model::{CallToolResult, ContentBlock, ProtocolVersion, ResourceContents, Tool};
use rmcp::transport::TokioChildProcess;
use serde_json::{Value, json};
use support::mcp::{Answer, Client, Dirs, TestClient, call, connect};
use support::pipeline::Fixture;

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// A valid 1x1 PNG.
fn png() -> Vec<u8> {
    let chunk = |kind: &[u8], data: &[u8]| {
        let mut c = (data.len() as u32).to_be_bytes().to_vec();
        c.extend_from_slice(kind);
        c.extend_from_slice(data);
        let mut h = crc32(kind, data).to_be_bytes().to_vec();
        c.append(&mut h);
        c
    };
    let mut v = b"\x89PNG\r\n\x1a\n".to_vec();
    v.extend(chunk(b"IHDR", &[0, 0, 0, 1, 0, 0, 0, 1, 8, 2, 0, 0, 0]));
    // A stored (uncompressed) zlib stream of one scanline: filter 0, one red pixel.
    let raw = [0u8, 255, 0, 0];
    let mut z = vec![0x78, 0x01, 0x01, 4, 0, !4u8, 0xff];
    z.extend_from_slice(&raw);
    z.extend_from_slice(&adler32(&raw).to_be_bytes());
    v.extend(chunk(b"IDAT", &z));
    v.extend(chunk(b"IEND", &[]));
    v
}

fn crc32(kind: &[u8], data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in kind.iter().chain(data) {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &x in data {
        a = (a + u32::from(x)) % 65521;
        b = (b + a) % 65521;
    }
    (b << 16) | a
}

/// A short WAV file (16-bit mono silence).
fn wav() -> Vec<u8> {
    let samples = [0u8; 32];
    let mut v = b"RIFF".to_vec();
    v.extend_from_slice(&(36 + samples.len() as u32).to_le_bytes());
    v.extend_from_slice(b"WAVEfmt ");
    v.extend_from_slice(&16u32.to_le_bytes());
    v.extend_from_slice(&1u16.to_le_bytes()); // PCM
    v.extend_from_slice(&1u16.to_le_bytes()); // mono
    v.extend_from_slice(&8000u32.to_le_bytes());
    v.extend_from_slice(&16000u32.to_le_bytes());
    v.extend_from_slice(&2u16.to_le_bytes());
    v.extend_from_slice(&16u16.to_le_bytes());
    v.extend_from_slice(b"data");
    v.extend_from_slice(&(samples.len() as u32).to_le_bytes());
    v.extend_from_slice(&samples);
    v
}

const PDF: &[u8] = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n";
const SVG: &str = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"1\" height=\"1\"/>";

/// (file name, content, expected media type, detected from)
fn samples() -> Vec<(&'static str, Vec<u8>, &'static str, &'static str)> {
    let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 16];
    jpeg.extend_from_slice(b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0\xFF\xD9");
    let mut webp = b"RIFF".to_vec();
    webp.extend_from_slice(&30u32.to_le_bytes());
    webp.extend_from_slice(b"WEBPVP8 ");
    webp.extend_from_slice(&[0u8; 22]);
    let mut mp3 = b"ID3\x03\0\0\0\0\0\0".to_vec();
    mp3.extend_from_slice(&[0xFF, 0xFB, 0x90, 0x64, 0, 0, 0, 0]);
    let mut ogg = b"OggS\0\x02".to_vec();
    ogg.extend_from_slice(&[0u8; 30]);
    vec![
        ("pic.png", png(), "image/png", "content"),
        ("photo.jpg", jpeg, "image/jpeg", "content"),
        (
            "anim.gif",
            b"GIF89a\x01\0\x01\0\0\0\0;".to_vec(),
            "image/gif",
            "content",
        ),
        ("img.webp", webp, "image/webp", "content"),
        (
            "drawing.svg",
            SVG.as_bytes().to_vec(),
            "image/svg+xml",
            "extension",
        ),
        ("sound.wav", wav(), "audio/wav", "content"),
        ("song.mp3", mp3, "audio/mpeg", "content"),
        ("voice.ogg", ogg, "audio/ogg", "content"),
        ("doc.pdf", PDF.to_vec(), "application/pdf", "content"),
        // The content wins over a wrong extension.
        ("misnamed.txt", png(), "image/png", "content"),
        (
            "blob.xyz",
            vec![1, 2, 3, 0, 5],
            "application/octet-stream",
            "none",
        ),
        ("empty.bin", Vec::new(), "application/octet-stream", "none"),
    ]
}

#[test]
fn media_types_come_from_the_content_then_the_extension_and_the_bytes_are_whole() {
    let f = Fixture::new();
    for (name, data, media_type, from) in samples() {
        f.write(name, &data);
        let r = f.ok("io.fs.read_media", json!({"path": name}));
        assert_eq!(r["media_type"], media_type, "{name}");
        assert_eq!(r["detected_from"], from, "{name}");
        assert_eq!(r["size_bytes"], data.len(), "{name}");
        assert_eq!(r["path"], name);
        assert_eq!(r["data"], b64(&data), "{name}");
    }
}

#[test]
fn a_file_over_max_bytes_is_refused_with_its_size_and_the_cap() {
    let f = Fixture::new();
    f.write("big.bin", vec![7u8; 3000]);
    let e = f.err_kind(
        "io.fs.read_media",
        json!({"path": "big.bin", "max_bytes": 2048}),
        ErrorKind::Execution,
    );
    assert!(
        e.message.contains("2.9 KiB (3000 bytes)") && e.message.contains("max_bytes (2048 bytes)"),
        "{e:?}"
    );
    assert!(e.hint.as_deref().unwrap_or("").contains("3000"), "{e:?}");
    // Exactly the cap is fine.
    let r = f.ok(
        "io.fs.read_media",
        json!({"path": "big.bin", "max_bytes": 3000}),
    );
    assert_eq!(r["size_bytes"], 3000);
    // The default cap is 5 MiB, the hard maximum 20 MiB.
    f.write("six.bin", vec![0u8; 6 * 1024 * 1024]);
    let e = f.err_kind(
        "io.fs.read_media",
        json!({"path": "six.bin"}),
        ErrorKind::Execution,
    );
    assert!(
        e.message.contains("6.0 MiB (6291456 bytes)") && e.message.contains("5242880"),
        "{e:?}"
    );
    let r = f.ok(
        "io.fs.read_media",
        json!({"path": "six.bin", "max_bytes": 20 * 1024 * 1024}),
    );
    assert_eq!(r["size_bytes"], 6 * 1024 * 1024);
    let e = f.err_kind(
        "io.fs.read_media",
        json!({"path": "six.bin", "max_bytes": 20 * 1024 * 1024 + 1}),
        ErrorKind::InvalidInput,
    );
    assert_eq!(e.field.as_deref(), Some("max_bytes"));
    f.err_kind(
        "io.fs.read_media",
        json!({"path": "nope.png"}),
        ErrorKind::NotFound,
    );
    f.mkdir("folder");
    let e = f.err_kind(
        "io.fs.read_media",
        json!({"path": "folder"}),
        ErrorKind::Execution,
    );
    assert!(e.message.contains("is a folder"), "{e:?}");
}

#[test]
fn paths_outside_the_workspace_are_refused_and_nothing_changes() {
    let f = Fixture::new();
    f.write("pic.png", png());
    f.symlink("../outside/secret.txt", "out.png");
    f.symlink("../outside", "out_dir");
    f.symlink("pic.png", "in.png");
    for bad in [
        "../outside/secret.txt",
        "out.png",
        "out_dir/secret.txt",
        f.outside("outside/secret.txt").to_str().unwrap(),
    ] {
        let e = f.denied("io.fs.read_media", json!({"path": bad}));
        assert_eq!(e.field.as_deref(), Some("path"), "{e:?}");
    }
    let r = f.ok("io.fs.read_media", json!({"path": "in.png"}));
    assert_eq!(
        (r["media_type"].as_str(), r["path"].as_str()),
        (Some("image/png"), Some("pic.png"))
    );
}

#[test]
fn the_command_line_prints_a_summary_unless_json_is_asked() {
    let f = Fixture::new();
    f.write("pic.png", png());
    let run = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_airun"))
            .arg("--workspace")
            .arg(&f.root)
            .args([
                "execute",
                "io.fs.read_media",
                "--params",
                r#"{"path":"pic.png"}"#,
            ])
            .args(extra)
            .env("AIRUN_HOME", f.base.join("home"))
            .stdin(std::process::Stdio::null())
            .output()
            .expect("airun runs")
    };
    let out = run(&[]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!(
            "pic.png: image/png, {} bytes (use --json for the data)\n",
            png().len()
        )
    );
    let out = run(&["--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["result"]["data"], b64(&png()));
}

// ---- over MCP ----

async fn serve(dirs: &Dirs, version: ProtocolVersion) -> Client {
    let (transport, _) =
        TokioChildProcess::builder(dirs.command(&["serve", "--mcp", "--log-level", "error"]))
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("spawn airun");
    connect(
        TestClient::new(Answer::NoElicitation).version(version),
        transport,
    )
    .await
}

fn valid_structured(tools: &[Tool], name: &str, r: &CallToolResult) -> Value {
    assert_eq!(r.is_error, Some(false), "{name} failed: {:?}", r.content);
    let structured = r.structured_content.clone().expect("structuredContent");
    let tool = tools.iter().find(|t| t.name == name).expect("tool listed");
    let schema = Value::Object(
        tool.output_schema
            .as_ref()
            .expect("outputSchema")
            .as_ref()
            .clone(),
    );
    if let Err(e) = jsonschema::validate(&schema, &structured) {
        panic!("{name}: structuredContent does not match the outputSchema: {e}");
    }
    structured
}

/// The text block after the media block: the result without its data.
fn summary(r: &CallToolResult) -> Value {
    let text = r.content[1]
        .as_text()
        .expect("a text block follows")
        .text
        .clone();
    serde_json::from_str(&text).expect("the text is JSON")
}

#[tokio::test]
async fn over_mcp_images_audio_and_other_files_become_media_content() {
    let dirs = Dirs::new();
    for (name, data, _, _) in samples() {
        std::fs::write(dirs.path(name), data).unwrap();
    }
    let client = serve(&dirs, ProtocolVersion::V_2025_11_25).await;
    let tools = client.list_all_tools().await.unwrap();

    for name in ["pic.png", "photo.jpg", "anim.gif", "img.webp"] {
        let data = std::fs::read(dirs.path(name)).unwrap();
        let r = call(&client, "io_fs_read_media", json!({"path": name})).await;
        let s = valid_structured(&tools, "io_fs_read_media", &r);
        let ContentBlock::Image(img) = &r.content[0] else {
            panic!("{name}: expected image content, got {:?}", r.content[0]);
        };
        assert_eq!(img.data, b64(&data), "{name}");
        assert_eq!(img.mime_type, s["media_type"].as_str().unwrap());
        assert_eq!(s["data"], b64(&data));
        let sum = summary(&r);
        assert!(
            sum.get("data").is_none(),
            "no second copy of the data in the text"
        );
        assert_eq!(sum["path"], name);
        assert_eq!(r.content.len(), 2);
    }

    let r = call(&client, "io_fs_read_media", json!({"path": "sound.wav"})).await;
    valid_structured(&tools, "io_fs_read_media", &r);
    let ContentBlock::Audio(a) = &r.content[0] else {
        panic!("expected audio content, got {:?}", r.content[0]);
    };
    assert_eq!(
        (a.mime_type.as_str(), a.data.clone()),
        ("audio/wav", b64(&wav()))
    );

    let r = call(&client, "io_fs_read_media", json!({"path": "doc.pdf"})).await;
    valid_structured(&tools, "io_fs_read_media", &r);
    let ContentBlock::Resource(res) = &r.content[0] else {
        panic!("expected an embedded resource, got {:?}", r.content[0]);
    };
    let ResourceContents::BlobResourceContents {
        uri,
        mime_type,
        blob,
        ..
    } = &res.resource
    else {
        panic!("expected a blob, got {:?}", res.resource);
    };
    assert_eq!(mime_type.as_deref(), Some("application/pdf"));
    assert_eq!(blob, &b64(PDF));
    let expected_uri = url::Url::from_file_path(dirs.ws.canonicalize().unwrap().join("doc.pdf"))
        .unwrap()
        .to_string();
    assert_eq!(uri, &expected_uri);

    // SVG is text: an embedded text resource.
    let r = call(&client, "io_fs_read_media", json!({"path": "drawing.svg"})).await;
    valid_structured(&tools, "io_fs_read_media", &r);
    let ContentBlock::Resource(res) = &r.content[0] else {
        panic!("expected an embedded resource, got {:?}", r.content[0]);
    };
    let ResourceContents::TextResourceContents {
        mime_type, text, ..
    } = &res.resource
    else {
        panic!("expected text, got {:?}", res.resource);
    };
    assert_eq!(
        (mime_type.as_deref(), text.as_str()),
        (Some("image/svg+xml"), SVG)
    );

    // A refusal is an error result, as for every tool.
    let r = call(&client, "io_fs_read_media", json!({"path": "../x.png"})).await;
    assert_eq!(r.is_error, Some(true));

    // The other new tools answer with ordinary structured results.
    let r = call(
        &client,
        "io_fs_read_many",
        json!({"paths": ["drawing.svg", "nope"]}),
    )
    .await;
    let s = valid_structured(&tools, "io_fs_read_many", &r);
    assert_eq!(s["files"][0]["content"], SVG);
    assert_eq!(s["files"][1]["error_kind"], "not_found");
    let r = call(&client, "io_fs_tree", json!({})).await;
    let s = valid_structured(&tools, "io_fs_tree", &r);
    assert_eq!(s["files"], samples().len());
    client.cancel().await.ok();
}

#[tokio::test]
async fn on_protocol_2024_11_05_audio_is_a_resource_and_there_is_no_structured_content() {
    let dirs = Dirs::new();
    std::fs::write(dirs.path("sound.wav"), wav()).unwrap();
    std::fs::write(dirs.path("pic.png"), png()).unwrap();
    let client = serve(&dirs, ProtocolVersion::V_2024_11_05).await;
    let r = call(&client, "io_fs_read_media", json!({"path": "sound.wav"})).await;
    assert_eq!(r.is_error, Some(false));
    assert!(
        r.structured_content.is_none(),
        "2024-11-05 has no structuredContent"
    );
    let ContentBlock::Resource(res) = &r.content[0] else {
        panic!(
            "2024-11-05 has no audio content: expected a resource, got {:?}",
            r.content[0]
        );
    };
    assert!(
        matches!(&res.resource, ResourceContents::BlobResourceContents { mime_type: Some(m), .. } if m == "audio/wav"),
        "{:?}",
        res.resource
    );
    let r = call(&client, "io_fs_read_media", json!({"path": "pic.png"})).await;
    assert!(
        matches!(&r.content[0], ContentBlock::Image(_)),
        "{:?}",
        r.content[0]
    );
    client.cancel().await.ok();
}
