//! `tcpconnect`: BCC's tcpconnect. One row per active TCP connection
//! (connect()), from TCP's state changes.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bpfscope::Value;
use clap::Parser;

use super::{Tool, int, outln, text};
use bpfscope::error::Error;
use bpfscope::pipeline::Settings;

pub const TOOL: Tool =
    Tool { name: "tcpconnect", summary: "Trace TCP connects.", main, args: <Args as clap::CommandFactory>::command };

const PROGRAM: &str = include_str!("../../../../tools/tcpconnect.bt");

const EXAMPLES: &str = "examples:
    ./tcpconnect           # trace all TCP connect()s
    ./tcpconnect -t        # include timestamps
    ./tcpconnect -p 181    # only trace PID 181
    ./tcpconnect -P 80     # only trace port 80
    ./tcpconnect -P 80,81  # only trace port 80 and 81
    ./tcpconnect -4        # only trace IPv4 family
    ./tcpconnect -6        # only trace IPv6 family
    ./tcpconnect -U        # include UID
    ./tcpconnect -u 1000   # only trace UID 1000
    ./tcpconnect -c        # count connects per src ip and dest ip/port
    ./tcpconnect -L        # include LPORT while printing outputs";

#[derive(Parser)]
#[command(name = "tcpconnect", about = "Trace TCP connects", after_help = EXAMPLES)]
struct Args {
    /// include timestamp on output
    #[arg(short = 't', long)]
    timestamp: bool,
    /// trace this PID only
    #[arg(short, long)]
    pid: Option<u32>,
    /// comma-separated list of destination ports to trace.
    #[arg(short = 'P', long, value_delimiter = ',')]
    port: Vec<u16>,
    /// trace IPv4 family only
    #[arg(short = '4', long, conflicts_with = "ipv6")]
    ipv4: bool,
    /// trace IPv6 family only
    #[arg(short = '6', long)]
    ipv6: bool,
    /// include LPORT on output
    #[arg(short = 'L', long)]
    lport: bool,
    /// include UID on output
    #[arg(short = 'U', long)]
    print_uid: bool,
    /// trace this UID only
    #[arg(short, long)]
    uid: Option<u32>,
    /// count connects per src ip and dest ip/port
    #[arg(short, long)]
    count: bool,
}

/// One connect, decoded from its event.
struct Connect {
    ns: i128,
    uid: i128,
    pid: i128,
    comm: String,
    source: IpAddr,
    destination: IpAddr,
    lport: i128,
    dport: i128,
}

fn main(args: &[String]) -> Result<(), Error> {
    let a: Args = super::parse_args("tcpconnect", args)?;
    let params = [a.pid.unwrap_or(0), a.uid.map_or(0, |u| u + 1), u32::from(a.lport)];
    let settings = Settings { params: params.iter().map(u32::to_string).collect(), ..Settings::default() };
    let mut first_ns = None;
    let mut counts: BTreeMap<(IpAddr, IpAddr, i128), u64> = BTreeMap::new();
    let row = |e: &[Value]| {
        let c = decode(e)?;
        let wanted = (a.port.is_empty() || a.port.iter().any(|&p| i128::from(p) == c.dport))
            && !(a.ipv4 && c.destination.is_ipv6())
            && !(a.ipv6 && c.destination.is_ipv4());
        if !wanted {
            return None;
        }
        if a.count {
            *counts.entry((c.source, c.destination, c.dport)).or_default() += 1;
            return None;
        }
        let mut line = String::new();
        if a.timestamp {
            let start = *first_ns.get_or_insert(c.ns);
            line.push_str(&format!("{:<9.3}", (c.ns - start) as f64 / 1e9));
        }
        if a.print_uid {
            line.push_str(&format!("{:<6}", c.uid));
        }
        let ip = if c.destination.is_ipv4() { 4 } else { 6 };
        let comm: String = c.comm.chars().take(12).collect();
        line.push_str(&format!("{:<7} {comm:<12} {ip:<2} {:<16} ", c.pid, c.source.to_string()));
        if a.lport {
            line.push_str(&format!("{:<6} ", c.lport));
        }
        // BCC ends the row with the (empty) DNS column.
        line.push_str(&format!("{:<16} {:<6} ", c.destination.to_string(), c.dport));
        Some(line)
    };
    let banner = "Tracing connect ... Hit Ctrl-C to end";
    let header = if a.count { banner.to_string() } else { format!("{banner}\n{}", header(&a)) };
    super::run_rows("tcpconnect", PROGRAM.to_string(), &settings, &header, None, row)?;
    if a.count {
        outln!("\n{:<25} {:<25} {:<20} {:<10}", "LADDR", "RADDR", "RPORT", "CONNECTS")?;
        let mut rows: Vec<_> = counts.into_iter().collect();
        rows.sort_by_key(|r| std::cmp::Reverse(r.1));
        for ((source, destination, port), n) in rows {
            outln!("{:<25} {:<25} {:<20} {n:<10}", source.to_string(), destination.to_string(), port)?;
        }
    }
    Ok(())
}

fn header(a: &Args) -> String {
    let mut h = String::new();
    if a.timestamp {
        h.push_str(&format!("{:<9}", "TIME(s)"));
    }
    if a.print_uid {
        h.push_str(&format!("{:<6}", "UID"));
    }
    if a.lport {
        h.push_str(&format!(
            "{:<7} {:<12} {:<2} {:<16} {:<6} {:<16} {:<6}",
            "PID", "COMM", "IP", "SADDR", "LPORT", "DADDR", "DPORT"
        ));
    } else {
        h.push_str(&format!("{:<7} {:<12} {:<2} {:<16} {:<16} {:<6}", "PID", "COMM", "IP", "SADDR", "DADDR", "DPORT"));
    }
    h
}

/// The event's fields: time, uid, pid, comm, family, the IPv4 and IPv6
/// addresses (arrays of bytes), the ports.
fn decode(e: &[Value]) -> Option<Connect> {
    let bytes = |i: usize| -> Vec<u8> {
        match e.get(i) {
            Some(Value::Array(items)) => items.iter().map(|v| v.as_int().unwrap_or(0) as u8).collect(),
            _ => Vec::new(),
        }
    };
    let address = |v4: usize, v6: usize| -> Option<IpAddr> {
        if int(e, 4) == 10 {
            let b: [u8; 16] = bytes(v6).try_into().ok()?;
            Some(IpAddr::V6(Ipv6Addr::from(b)))
        } else {
            let b: [u8; 4] = bytes(v4).try_into().ok()?;
            Some(IpAddr::V4(Ipv4Addr::from(b)))
        }
    };
    Some(Connect {
        ns: int(e, 0),
        uid: int(e, 1),
        pid: int(e, 2),
        comm: text(e, 3).to_string(),
        source: address(5, 7)?,
        destination: address(6, 8)?,
        lport: int(e, 9),
        dport: int(e, 10),
    })
}
