//! `net.http.*` capabilities. They reach the network only through their context's
//! network power, which applies the operator's network policy to every hop.

mod exchange;

crate::stdlib::generated::capability_modules!(net::http);
