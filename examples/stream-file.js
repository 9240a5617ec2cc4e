'use strict';
// Streams a file over HTTP with backpressure: the classic uWebSockets.js pattern with
// tryEnd / onWritable / onAborted. The read stream pauses whenever the socket cannot take more
// and resumes from onWritable.
//   node examples/stream-file.js [FILE]   (default: this script). PORT=0 picks a free port;
//   prints `listening on <port>`. GET / returns the file.
const fs = require('fs');
const path = require('path');
const uWS = require('..'); // in your project: require('uws-rs')

const port = process.env.PORT === undefined ? 9001 : Number(process.env.PORT);
const file = path.resolve(process.argv[2] || __filename);
const totalSize = fs.statSync(file).size;

function streamFile(res) {
  if (totalSize === 0) {
    res.end();
    return;
  }
  const stream = fs.createReadStream(file);
  let finished = false; // answered, aborted or failed: `res` must not be touched any more
  const finish = () => {
    if (!finished) {
      finished = true;
      stream.destroy();
    }
  };
  res.onAborted(finish);

  let headerWritten = false;
  let pending = null; // the chunk tryEnd could not take in full
  let pendingOffset = 0; // the write offset at which `pending` starts

  // onWritable's handler gets the response's write offset: send what is left of `pending` from there.
  res.onWritable((offset) => {
    if (finished || !pending) return true;
    const [ok, done] = res.tryEnd(pending.subarray(offset - pendingOffset), totalSize);
    if (done) finish();
    else if (ok) {
      pending = null;
      stream.resume();
    }
    return ok;
  });

  stream.on('data', (chunk) => {
    if (finished) return;
    // Writes outside a uWS handler go in cork(): they are batched and flushed once.
    res.cork(() => {
      if (!headerWritten) {
        headerWritten = true;
        res.writeHeader('Content-Type', 'application/octet-stream');
      }
      const offset = res.getWriteOffset();
      const [ok, done] = res.tryEnd(chunk, totalSize);
      if (done) finish();
      else if (!ok) {
        // Part of the chunk is not sent yet: hold it and wait for onWritable.
        stream.pause();
        pending = chunk;
        pendingOffset = offset;
      }
    });
  });
  stream.on('error', (err) => {
    console.error(`stream-file: ${err.message}`);
    if (!finished) {
      finished = true;
      res.close(); // the response cannot be completed: drop the connection
    }
  });
}

uWS.App()
  .get('/', streamFile)
  .listen(port, (token) => {
    if (!token) {
      console.error(`cannot listen on port ${port}`);
      process.exit(1);
    }
    console.log(`listening on ${uWS.us_socket_local_port(token)}: http://localhost:${uWS.us_socket_local_port(token)}/ streams ${file} (${totalSize} bytes)`);
  });
