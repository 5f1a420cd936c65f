//! `pxl-ws-bench SCENARIO [options]`: runs one benchmark scenario against a server and
//! prints its result as one JSON line (see `pxl-ws-bench --help` and
//! docs/performance.md). Runs on one thread: pin it to a core of its own.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (scenario, options) = match pxl_ws_bench::Options::parse(&args) {
        Ok(parsed) => parsed,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match runtime.block_on(pxl_ws_bench::run(scenario, &options)) {
        Ok(result) => println!("{result}"),
        Err(e) => {
            eprintln!("{} failed: {e}", scenario.name());
            std::process::exit(1);
        }
    }
}
