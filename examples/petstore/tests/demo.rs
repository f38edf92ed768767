//! The example binaries, run as the demo script runs them, over loopback.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A child process that is killed when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts a server binary on a free port and returns it with its address.
fn start(bin: &str, args: &[&str]) -> (Running, String) {
    let mut child = Command::new(bin)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().unwrap().unwrap();
    let addr = first.strip_prefix("listening on ").unwrap().to_owned();
    // Keep reading in the background so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (Running(child), addr)
}

#[test]
fn server_and_client() {
    let (_server, addr) = start(
        env!("CARGO_BIN_EXE_petstore_server"),
        &["--listen", "127.0.0.1:0"],
    );
    let out = Command::new(env!("CARGO_BIN_EXE_petstore_client"))
        .args(["--url", &format!("ws://{addr}/")])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("listPets limit=2 -> [\"Dolores\", \"Bernard\"]"),
        "{text}"
    );
    assert!(text.contains("showPetById 42 -> 404 Not Found"), "{text}");
    assert!(
        text.contains("createPets duplicate -> 409 Conflict"),
        "{text}"
    );
}

#[test]
fn cloud_calls_devices() {
    let cloud = Command::new(env!("CARGO_BIN_EXE_petstore_cloud"))
        .args(["--listen", "127.0.0.1:0", "--devices", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut cloud = Running(cloud);
    let stdout = cloud.0.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let addr = lines
        .next()
        .unwrap()
        .unwrap()
        .strip_prefix("listening on ")
        .unwrap()
        .to_owned();
    let devices: Vec<Running> = ["kitchen", "garage"]
        .iter()
        .map(|name| {
            Running(
                Command::new(env!("CARGO_BIN_EXE_petstore_device"))
                    .args(["--url", &format!("ws://{addr}/"), "--name", name])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap(),
            )
        })
        .collect();
    let rest: Vec<String> = lines.map(|l| l.unwrap()).collect();
    let status = cloud.0.wait().unwrap();
    assert!(status.success(), "{rest:?}");
    assert!(
        rest.contains(
            &"cloud -> garage: listPets -> [\"garage-cat\", \"garage-parrot\"]".to_owned()
        ),
        "{rest:?}"
    );
    assert!(
        rest.contains(
            &"cloud -> kitchen: listPets -> [\"kitchen-cat\", \"kitchen-parrot\"]".to_owned()
        ),
        "{rest:?}"
    );
    drop(devices);
}
