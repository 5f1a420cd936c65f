//! Command-line options of the load generator.

use std::time::Duration;

use crate::Error;

/// A benchmark scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// Open N idle connections: connections/s and server RSS per connection.
    Connect,
    /// N connections × K requests in flight: requests/s and latency.
    Echo,
    /// N subscribers over R rooms, P publishers: deliveries/s, loss, latency.
    Broadcast,
    /// `Broadcast` over two (or more) server URLs sharing a bus.
    Cluster,
    /// A client rejoins a history room `--missed` messages behind: time to the reply.
    Recover,
}

impl Scenario {
    /// The scenario's name on the command line and in the result line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::Echo => "echo",
            Self::Broadcast => "broadcast",
            Self::Cluster => "cluster",
            Self::Recover => "recover",
        }
    }

    fn parse(name: &str) -> Result<Self, Error> {
        Ok(match name {
            "connect" => Self::Connect,
            "echo" => Self::Echo,
            "broadcast" => Self::Broadcast,
            "cluster" => Self::Cluster,
            "recover" => Self::Recover,
            other => {
                return Err(format!(
                    "unknown scenario `{other}`; expected connect, echo, broadcast, cluster or recover"
                )
                .into());
            }
        })
    }
}

/// Settings of a run. [`Options::defaults`] gives each scenario's defaults.
#[derive(Debug, Clone)]
pub struct Options {
    /// Server socket URLs (`ws://host:port/path`); `cluster` needs two.
    pub urls: Vec<String>,
    /// Server processes whose CPU (and, for `connect`, RSS) is measured.
    pub server_pids: Vec<u32>,
    /// Free text copied into the result line (e.g. `pxl-ws`, `floor`).
    pub label: String,
    /// Connections (`connect`, `echo`) or subscribers (`broadcast`, `cluster`).
    pub connections: usize,
    /// Requests in flight per connection (`echo`) or per publisher at max rate.
    pub in_flight: usize,
    /// Measured time.
    pub duration: Duration,
    /// Unmeasured time before it (`echo`).
    pub warmup: Duration,
    /// Rooms the subscribers are spread over.
    pub rooms: usize,
    /// Publisher connections.
    pub publishers: usize,
    /// Total publish rate in messages/s (`broadcast`), or request rate (`echo`: the
    /// open loop); `None` publishes as fast as acknowledged (the closed loop).
    pub rate: Option<f64>,
    /// Extra bytes of padding in each message's `data`.
    pub payload: usize,
    /// Handshakes in flight while connecting.
    pub concurrency: usize,
    /// Bind client sockets to 127.0.0.1 ..= 127.0.0.N in turn (0: let the kernel pick),
    /// for more ephemeral ports than one source address has.
    pub source_ips: u8,
    /// How long to wait after `connect` before reading the server's RSS.
    pub settle: Duration,
    /// `recover`: messages published before each rejoin, all of which it must get back.
    pub missed: usize,
    /// `recover`: rejoins measured.
    pub recoveries: usize,
}

impl Options {
    /// The defaults of `scenario` (the targets' settings of issue 7).
    pub fn defaults(scenario: Scenario) -> Self {
        let mut o = Self {
            urls: vec!["ws://127.0.0.1:3000/ws".into()],
            server_pids: Vec::new(),
            label: String::new(),
            connections: 1000,
            in_flight: 4,
            duration: Duration::from_secs(10),
            warmup: Duration::from_secs(1),
            rooms: 1,
            publishers: 1,
            rate: None,
            payload: 0,
            concurrency: 200,
            source_ips: 0,
            settle: Duration::from_secs(1),
            missed: 1000,
            recoveries: 20,
        };
        match scenario {
            Scenario::Connect => o.connections = 10_000,
            Scenario::Echo => {}
            Scenario::Broadcast | Scenario::Cluster => {
                o.in_flight = 1;
                o.publishers = 1;
            }
            Scenario::Recover => o.in_flight = 16,
        }
        o
    }

    /// Parses `SCENARIO [--flag value]...` (the program name already removed).
    pub fn parse(args: &[String]) -> Result<(Scenario, Self), Error> {
        let (first, rest) = args.split_first().ok_or_else(|| usage().to_owned())?;
        if first == "--help" || first == "-h" {
            return Err(usage().into());
        }
        let scenario = Scenario::parse(first)?;
        let mut o = Self::defaults(scenario);
        let mut urls = Vec::new();
        let mut it = rest.iter();
        while let Some(flag) = it.next() {
            if flag == "--quick" {
                o.quick();
                continue;
            }
            let value = it
                .next()
                .ok_or_else(|| format!("{flag} needs a value\n{}", usage()))?;
            let num = |v: &str| -> Result<usize, Error> {
                v.parse()
                    .map_err(|_| format!("{flag}: `{v}` is not a number").into())
            };
            let secs = |v: &str| -> Result<Duration, Error> {
                v.parse::<f64>()
                    .map(Duration::from_secs_f64)
                    .map_err(|_| format!("{flag}: `{v}` is not a number of seconds").into())
            };
            match flag.as_str() {
                "--url" => urls.push(value.clone()),
                "--server-pid" => {
                    for pid in value.split(',') {
                        o.server_pids.push(num(pid)? as u32);
                    }
                }
                "--label" => o.label = value.clone(),
                "--connections" | "-n" => o.connections = num(value)?,
                "--in-flight" | "-k" => o.in_flight = num(value)?.max(1),
                "--duration" | "-d" => o.duration = secs(value)?,
                "--warmup" => o.warmup = secs(value)?,
                "--rooms" | "-r" => o.rooms = num(value)?.max(1),
                "--publishers" | "-p" => o.publishers = num(value)?.max(1),
                "--rate" => {
                    o.rate = if value == "max" {
                        None
                    } else {
                        Some(num(value)? as f64)
                    }
                }
                "--payload" => o.payload = num(value)?,
                "--concurrency" => o.concurrency = num(value)?.max(1),
                "--source-ips" => o.source_ips = num(value)?.min(254) as u8,
                "--settle" => o.settle = secs(value)?,
                "--missed" => o.missed = num(value)?.max(1),
                "--recoveries" => o.recoveries = num(value)?.max(1),
                other => return Err(format!("unknown option `{other}`\n{}", usage()).into()),
            }
        }
        if !urls.is_empty() {
            o.urls = urls;
        }
        if scenario == Scenario::Cluster && o.urls.len() < 2 {
            return Err("cluster needs two server URLs: --url A --url B".into());
        }
        Ok((scenario, o))
    }

    /// A run of a fraction of a second with a few connections (smoke tests).
    pub fn quick(&mut self) {
        self.connections = self.connections.min(40);
        self.rooms = self.rooms.min(4);
        self.publishers = self.publishers.min(2);
        self.duration = Duration::from_millis(300);
        self.warmup = Duration::from_millis(100);
        self.settle = Duration::from_millis(100);
        self.rate = self.rate.map(|r| r.min(1000.0));
        self.missed = self.missed.min(100);
        self.recoveries = self.recoveries.min(3);
    }
}

/// The command-line help.
pub fn usage() -> &'static str {
    "usage: pxl-ws-bench connect|echo|broadcast|cluster|recover [options]
  --url URL            server socket (repeat for cluster), default ws://127.0.0.1:3000/ws
  --server-pid PID     server process(es) to measure CPU/RSS of (repeat or comma-separate)
  --label TEXT         copied into the result line
  -n, --connections N  connections (connect: 10000, echo: 1000) or subscribers (1000)
  -k, --in-flight K    requests in flight per connection (echo: 4) or per publisher (1)
  -d, --duration S     measured seconds (10)          --warmup S   echo warm-up (1)
  -r, --rooms R        rooms for the subscribers (1)  -p, --publishers P (1)
  --rate M|max         total publish rate in messages/s, or max (default); echo: M
                       requests/s in total on a fixed schedule (the open loop)
  --payload B          extra bytes of padding per message (0)
  --concurrency C      handshakes in flight (200)
  --source-ips X       bind client sockets to 127.0.0.1..=127.0.0.X in turn (0: off)
  --settle S           connect: wait before reading RSS (1)
  --missed M           recover: messages behind at each rejoin (1000; the server's
                       PXL_WS_HISTORY_SIZE must be at least M)
  --recoveries N       recover: rejoins measured (20); -k: publishes in flight (16)
  --quick              a fraction of a second with a few connections (smoke test)"
}
