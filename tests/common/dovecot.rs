//! A real IMAP server for the report inbox tests: Debian's Dovecot (`dovecot-imapd`) started as
//! its own process on free loopback ports, with a config, passwd-file users, their Maildirs and
//! a test CA and server certificate (made by rcgen) all in a temp folder — no system service,
//! nothing outside the folder. Implicit TLS (IMAPS) and STARTTLS both listen; plain logins are
//! refused.
//!
//! The tests share one server ([`Dovecot::shared`], stopped when the process exits), each with
//! a user and mailbox of its own ([`Dovecot::inbox`]); a test that needs another server config
//! (XOAUTH2) starts its own, stopped when dropped.
//!
//! Run as root (containers, CI), Dovecot drops its login and internal processes to the
//! package's own `dovenull` and `dovecot` users and the mailbox belongs to `nobody`; run as
//! anyone else, every process is that user, without chroot.

use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::{free_port, tools};

/// The user an OAuth 2.0 token is for ([`Dovecot::start_with_oauth2`]), and every user's
/// password.
pub const IMAP_USER: &str = "reports";
pub const IMAP_PASSWORD: &str = "imap-test-password-1";
/// The environment variable `[[source]] password_env` names in [`Dovecot::source`].
pub const IMAP_PASSWORD_ENV: &str = "BW_TEST_IMAP_PASSWORD";

/// A running Dovecot.
pub struct Dovecot {
    pub dir: tempfile::TempDir,
    /// The IMAPS port (TLS from the first byte).
    pub imaps_port: u16,
    /// The IMAP port (STARTTLS).
    pub imap_port: u16,
    /// Owner of the mail files: what Dovecot's mail processes run as.
    mail_uid: u32,
    /// Held while a user is added to the passwd file.
    users: std::sync::Mutex<()>,
    child: Option<Child>,
}

/// One test's user on a [`Dovecot`]: its own `INBOX` and `Processed` folders.
pub struct Inbox<'a> {
    pub server: &'a Dovecot,
    /// The login name (password [`IMAP_PASSWORD`]).
    pub user: String,
    /// The IMAPS port (TLS from the first byte).
    pub imaps_port: u16,
    /// The IMAP port (STARTTLS).
    pub imap_port: u16,
}

/// The `dovecot` program: on `PATH`, or where Debian puts it (`/usr/sbin`, not on a normal
/// user's `PATH`).
pub fn program() -> PathBuf {
    let sbin = Path::new("/usr/sbin/dovecot");
    if sbin.is_file() {
        sbin.to_path_buf()
    } else {
        PathBuf::from("dovecot")
    }
}

/// What `id <flag>` says of the user running the tests (`-un`: the user's name, `-gn`: the
/// group's).
fn id(flag: &str) -> String {
    let out = Command::new("id").arg(flag).output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

impl Dovecot {
    /// The server this test binary's tests share, started on first use (waiting until it
    /// accepts connections) and stopped when the process exits. Users log in with their
    /// password (`LOGIN`, `PLAIN`); each test takes an [`Dovecot::inbox`] of its own.
    pub fn shared() -> &'static Dovecot {
        static SHARED: OnceLock<Dovecot> = OnceLock::new();
        super::shared::once(
            &SHARED,
            || Dovecot::start_with(None),
            |d| {
                if let Some(child) = &d.child {
                    stop(child.id());
                }
                let _ = std::fs::remove_dir_all(d.dir.path());
            },
        )
    }

    /// A server of its own where the user [`IMAP_USER`] (see [`Dovecot::inbox_of`]) may also
    /// log in with XOAUTH2: Dovecot checks the bearer token at `introspection_url` (RFC 7662,
    /// `POST token=…`), which must answer `{"active": true, "username": "reports"}` for a good
    /// token. Stopped when dropped.
    pub fn start_with_oauth2(introspection_url: &str) -> Dovecot {
        Dovecot::start_with(Some(introspection_url))
    }

    fn start_with(introspection_url: Option<&str>) -> Dovecot {
        assert!(
            tools::Tool::Dovecot.present(),
            "dovecot is missing: apt-get install dovecot-imapd; a test that starts it begins with \
             tools::needs(&[Tool::Dovecot])"
        );
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let uid = std::fs::metadata(d).unwrap().uid();
        let root = uid == 0;
        // Dovecot's unprivileged login processes must reach the sockets in the folder.
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();

        super::write_test_certificates(d);

        // Dovecot refuses mail processes running as root: as root, the mailbox is nobody's.
        let (mail_uid, users) = if root {
            (
                65534,
                "default_internal_user = dovecot\ndefault_internal_group = dovecot\n\
                 default_login_user = dovenull\n"
                    .to_string(),
            )
        } else {
            // Everything runs as this user: no chroot (only root may), this user's group for
            // the internal sockets.
            let (me, group) = (id("-un"), id("-gn"));
            (
                uid,
                format!(
                    "default_internal_user = {me}\ndefault_internal_group = {group}\n\
                     default_login_user = {me}\nfirst_valid_uid = {uid}\nlast_valid_uid = {uid}\n\
                     service anvil {{\n  chroot =\n}}\n"
                ),
            )
        };
        let login_chroot = if root { "" } else { "  chroot =\n" };
        std::fs::create_dir(d.join("mail")).unwrap();
        if root {
            std::os::unix::fs::chown(d.join("mail"), Some(mail_uid), Some(mail_uid)).unwrap();
        }
        std::fs::write(d.join("passwd"), "").unwrap();
        // The password passdb first: a token is not a password, so it fails there and Dovecot
        // goes on to the OAuth 2.0 passdb.
        let oauth2 = match introspection_url {
            None => String::new(),
            Some(url) => {
                std::fs::write(
                    d.join("oauth2.conf.ext"),
                    format!(
                        "introspection_mode = post\nintrospection_url = {url}\n\
                         username_attribute = username\nactive_attribute = active\n\
                         active_value = true\n"
                    ),
                )
                .unwrap();
                format!(
                    "passdb {{\n  driver = oauth2\n  args = {}\n}}\n",
                    d.join("oauth2.conf.ext").display()
                )
            }
        };
        let mechanisms = if introspection_url.is_some() {
            "plain login xoauth2 oauthbearer"
        } else {
            "plain login"
        };
        let imaps_port = free_port();
        let imap_port = free_port();
        let p = |name: &str| d.join(name).display().to_string();
        for sub in ["run", "state"] {
            std::fs::create_dir(d.join(sub)).unwrap();
        }
        let conf = format!(
            "base_dir = {run}\nstate_dir = {state}\nlog_path = {log}\n\
             protocols = imap\nlisten = 127.0.0.1\n{users}\
             ssl = required\nssl_cert = <{cert}\nssl_key = <{key}\n\
             auth_mechanisms = {mechanisms}\nauth_verbose = yes\n\
             passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u {passwd}\n}}\n\
             {oauth2}\
             userdb {{\n  driver = passwd-file\n  args = username_format=%u {passwd}\n}}\n\
             mail_location = maildir:~\n\
             service imap-login {{\n{login_chroot}\
               inet_listener imap {{\n    address = 127.0.0.1\n    port = {imap_port}\n  }}\n\
               inet_listener imaps {{\n    address = 127.0.0.1\n    port = {imaps_port}\n    ssl = yes\n  }}\n\
             }}\n",
            run = p("run"),
            state = p("state"),
            log = p("dovecot.log"),
            cert = p("cert.pem"),
            key = p("key.pem"),
            passwd = p("passwd"),
        );
        std::fs::write(d.join("dovecot.conf"), conf).unwrap();
        let mut server = Dovecot {
            dir,
            imaps_port,
            imap_port,
            mail_uid,
            users: std::sync::Mutex::new(()),
            child: None,
        };
        server.up();
        server
    }

    /// Starts the server process and waits (up to 20 s) until both ports accept connections.
    fn up(&mut self) {
        let child = Command::new(program())
            .arg("-F")
            .arg("-c")
            .arg(self.dir.path().join("dovecot.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        for port in [self.imaps_port, self.imap_port] {
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(
                    Instant::now() < deadline,
                    "dovecot did not listen on 127.0.0.1:{port}; its log:\n{}",
                    self.log()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// The server's log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default()
    }

    /// The CA certificate that signed the server's certificate.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A user and mailbox of its own for one test (`reports-N`), with an empty `INBOX` and a
    /// `Processed` folder.
    pub fn inbox(&self) -> Inbox<'_> {
        static NEXT: AtomicU32 = AtomicU32::new(1);
        self.inbox_of(&format!(
            "{IMAP_USER}-{}",
            NEXT.fetch_add(1, Ordering::SeqCst)
        ))
    }

    /// The user `user` with an empty `INBOX` and a `Processed` folder, added to the passwd
    /// file (Dovecot reads it again when it changes).
    pub fn inbox_of(&self, user: &str) -> Inbox<'_> {
        let _adding = self.users.lock().unwrap();
        let maildir = self.dir.path().join("mail").join(user);
        for folder in [maildir.clone(), maildir.join(".Processed")] {
            for sub in ["new", "cur", "tmp"] {
                std::fs::create_dir_all(folder.join(sub)).unwrap();
            }
        }
        if self.mail_uid != std::fs::metadata(&maildir).unwrap().uid() {
            chown_all(&maildir, self.mail_uid);
        }
        let mut passwd = std::fs::OpenOptions::new()
            .append(true)
            .open(self.dir.path().join("passwd"))
            .unwrap();
        writeln!(
            passwd,
            "{user}:{{PLAIN}}{IMAP_PASSWORD}:{uid}:{uid}::{}::",
            maildir.display(),
            uid = self.mail_uid
        )
        .unwrap();
        Inbox {
            server: self,
            user: user.to_string(),
            imaps_port: self.imaps_port,
            imap_port: self.imap_port,
        }
    }
}

impl Inbox<'_> {
    /// The server's log.
    pub fn log(&self) -> String {
        self.server.log()
    }

    /// A folder's Maildir (`INBOX` or `Processed`).
    fn folder(&self, folder: &str) -> PathBuf {
        let maildir = self.server.dir.path().join("mail").join(&self.user);
        match folder {
            "INBOX" => maildir,
            other => maildir.join(format!(".{other}")),
        }
    }

    /// Delivers `raw` to `INBOX` the Maildir way (written to `tmp/`, renamed into `new/`);
    /// `name` orders the messages (Dovecot gives UIDs in file-name order).
    pub fn deliver(&self, name: &str, raw: &[u8]) {
        let inbox = self.folder("INBOX");
        let tmp = inbox.join("tmp").join(name);
        std::fs::write(&tmp, raw).unwrap();
        let uid = self.server.mail_uid;
        if uid != std::fs::metadata(&tmp).unwrap().uid() {
            std::os::unix::fs::chown(&tmp, Some(uid), Some(uid)).unwrap();
        }
        std::fs::rename(&tmp, inbox.join("new").join(name)).unwrap();
    }

    /// How many messages `folder` holds.
    pub fn count(&self, folder: &str) -> usize {
        ["new", "cur"]
            .iter()
            .map(|sub| {
                std::fs::read_dir(self.folder(folder).join(sub))
                    .unwrap()
                    .count()
            })
            .sum()
    }

    /// A `[[source]]` of kind `imap` named `name` for this user with `tls` (`implicit` or
    /// `starttls`) and `extra` keys; the password is in [`IMAP_PASSWORD_ENV`].
    pub fn source(&self, name: &str, tls: &str, extra: &str) -> String {
        self.source_with(
            name,
            tls,
            &format!("password_env = \"{IMAP_PASSWORD_ENV}\"\n{extra}"),
        )
    }

    /// A `[[source]]` of kind `imap` named `name` for this user with `tls`, logging in with
    /// the login keys in `extra`.
    pub fn source_with(&self, name: &str, tls: &str, extra: &str) -> String {
        let port = if tls == "starttls" {
            self.imap_port
        } else {
            self.imaps_port
        };
        format!(
            "[[source]]\nname = \"{name}\"\nkind = \"imap\"\nhost = \"127.0.0.1\"\nport = {port}\n\
             tls = \"{tls}\"\nca_file = \"{}\"\nusername = \"{}\"\n{extra}\n",
            self.server.ca_file().display(),
            self.user
        )
    }
}

/// Gives `path` and everything under it to `uid`.
fn chown_all(path: &Path, uid: u32) {
    std::os::unix::fs::chown(path, Some(uid), Some(uid)).unwrap();
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            chown_all(&entry.unwrap().path(), uid);
        }
    }
}

/// Stops the Dovecot master `pid` with SIGTERM: it stops its login, auth and mail processes
/// before it exits.
fn stop(pid: u32) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status();
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop(child.id());
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
