package proxy

import "sync"

// copyBufferSize is the size of the buffers bodies are copied with: four
// TLS records' worth, and a whole body of up to 64 KiB in one write.
const copyBufferSize = 64 << 10

// bufferPool recycles copy buffers.
type bufferPool struct{ p sync.Pool }

// copyBuffers is the pool every body copy takes its buffer from.
var copyBuffers bufferPool

func (b *bufferPool) get() *[]byte {
	if buf, ok := b.p.Get().(*[]byte); ok {
		return buf
	}
	buf := make([]byte, copyBufferSize)
	return &buf
}

func (b *bufferPool) put(buf *[]byte) { b.p.Put(buf) }
