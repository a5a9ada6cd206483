//! `tcp://HOST:PORT` targets: ready when a TCP connection opens.

use super::{Failure, Phase, Probe, net};
use crate::target::Endpoint;

pub struct TcpProbe {
    endpoint: Endpoint,
    phase: Phase,
}

impl TcpProbe {
    pub fn new(endpoint: Endpoint) -> Self {
        TcpProbe {
            endpoint,
            phase: Phase::Resolve,
        }
    }
}

impl Probe for TcpProbe {
    async fn attempt(&mut self) -> Result<(), Failure> {
        self.phase = Phase::Resolve;
        let addrs = net::resolve(&self.endpoint).await?;
        self.phase = Phase::Connect;
        let stream = net::connect(&self.endpoint, &addrs).await?;
        drop(stream);
        Ok(())
    }

    fn phase(&self) -> Phase {
        self.phase
    }
}
