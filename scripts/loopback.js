// Node preload for the npm-served test servers (scripts/npm-server.sh): every
// net.Server of the process listens on 127.0.0.1 (kinesalite and dynalite bind all
// interfaces by themselves), and the address it got is written to $LOOPBACK_PORT_FILE
// once it listens.
'use strict';
const fs = require('fs');
const net = require('net');
const name = process.env.LOOPBACK_NAME || 'server';
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  const first = args[0];
  if (first !== null && typeof first === 'object' && !first._handle && first.fd === undefined) {
    args[0] = Object.assign({}, first, { host: '127.0.0.1' });
  } else if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
    if (typeof args[1] === 'string') args[1] = '127.0.0.1';
    else args.splice(1, 0, '127.0.0.1');
  }
  if (process.env.LOOPBACK_PORT_FILE) {
    this.once('listening', () => {
      const addr = this.address();
      fs.writeFileSync(process.env.LOOPBACK_PORT_FILE, addr.address + ' ' + addr.port + '\n');
    });
  }
  return listen.apply(this, args);
};
// Both servers throw from a request's 'error' event when a client goes away in the
// middle of a request (a worker killed with SIGKILL, a request cancelled at its
// deadline), which would end the whole server and fail every later test. That error
// concerns one connection only: log it and go on.
process.on('uncaughtException', (err) => {
  if (err && err.code === 'ECONNRESET') {
    console.error(name + ': a client went away mid-request: ' + err.message);
    return;
  }
  console.error(err);
  process.exit(1);
});
