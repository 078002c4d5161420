//! `phishloop demo` run as a program on a folder of messages written here.

use std::path::Path;
use std::process::Command;

const BINARY: &str = env!("CARGO_BIN_EXE_phishloop");

/// A credential lure to two people of the organisation, written for this test.
const LURE: &str = "From: \"Payroll Team\" <payroll@paysl1p-portal-review.example>\r\n\
To: erin@corp-example.com, frank@corp-example.com\r\n\
Subject: Your salary statement is ready - sign in to view\r\n\
Message-ID: <salary-demo-1@paysl1p-portal-review.example>\r\n\
Date: Wed, 8 May 2024 07:45:00 +0000\r\n\
MIME-Version: 1.0\r\n\
Content-Type: text/html; charset=utf-8\r\n\r\n\
<p>Dear employee,</p>\r\n\
<p>Your password expires today. Verify your account now to view your salary statement, or your access will be suspended.</p>\r\n\
<p><a href=\"http://paysl1p-portal-review.example/login/verify.php?u=erin\">Sign in to your account</a></p>\r\n";

/// An ordinary internal message, written for this test.
const NOTE: &str = "From: Grace Hopper <grace@corp-example.com>\r\n\
To: erin@corp-example.com\r\n\
Subject: Minutes of the planning meeting\r\n\
Message-ID: <minutes-demo-1@corp-example.com>\r\n\
Date: Wed, 8 May 2024 11:00:00 +0000\r\n\
Content-Type: text/plain; charset=utf-8\r\n\r\n\
Hi Erin,\r\n\r\nthe minutes of Tuesday's planning meeting are in the team folder. Next meeting is on the 21st.\r\n\r\nGrace\r\n";

fn write(folder: &Path, name: &str, text: &str) {
    std::fs::write(folder.join(name), text).expect("write message file");
}

#[test]
fn demo_prints_decisions_actions_and_messages() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let messages = folder.path().join("messages");
    std::fs::create_dir(&messages).expect("create folder");
    write(&messages, "lure.eml", LURE);
    write(&messages, "note.eml", NOTE);
    let config = folder.path().join("phishloop.toml");
    std::fs::write(&config, "[analysis.organization]\ndomains = [\"corp-example.com\"]\n").expect("write config");

    let output = Command::new(BINARY)
        .args(["--config", config.to_str().expect("UTF-8 path"), "demo"])
        .arg(&messages)
        .args(["--reporter", "erin@corp-example.com"])
        .env("RUST_LOG", "warn")
        .output()
        .expect("run phishloop demo");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);

    assert!(output.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    let lure = stdout.split("lure.eml").nth(1).expect("a section for lure.eml").split("note.eml").next().expect("x");
    assert!(lure.contains("verdict malicious"), "{stdout}");
    assert!(lure.contains("succeeded          block_domain paysl1p-portal-review[.]example via blocklist"), "{stdout}");
    assert!(lure.contains("outcome          to erin@corp-example.com"), "{stdout}");
    assert!(lure.contains("lesson           to frank@corp-example.com"), "{stdout}");
    assert!(!lure.contains("http://paysl1p"), "URLs are printed defanged: {stdout}");
    let note = stdout.split("note.eml").nth(1).expect("a section for note.eml");
    assert!(note.contains("verdict benign"), "{stdout}");
    assert!(note.contains("dismiss_with_thanks"), "{stdout}");
    assert!(stdout.contains("reports_leading_to_blocking: 1"), "{stdout}");
    assert!(stdout.contains("reporters_told: 2"), "{stdout}");
}

#[test]
fn demo_of_missing_folder_fails() {
    let folder = tempfile::tempdir().expect("temporary folder");

    let output = Command::new(BINARY).arg("demo").arg(folder.path().join("absent")).output().expect("run");

    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("is not a folder"));
}
