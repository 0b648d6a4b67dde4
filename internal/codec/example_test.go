package codec_test

import (
	"fmt"

	"github.com/cartstream/cartstream/internal/codec"
)

// Two versions of one record: v2 adds a field with a default. A record
// written by v1 code reads as v2 with the default filled in.
func Example() {
	v1 := codec.MustParseSchema(`{"type":"record","name":"Greeting","namespace":"demo",
		"fields":[{"name":"text","type":"string"}]}`)
	v2 := codec.MustParseSchema(`{"type":"record","name":"Greeting","namespace":"demo",
		"fields":[{"name":"text","type":"string"},{"name":"lang","type":"string","default":"en"}]}`)
	reg, err := codec.NewRegistry(v1, v2) // oldest first: v2 is the default reader
	if err != nil {
		fmt.Println(err)
		return
	}
	format, err := codec.NewSingleObject(reg, codec.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}

	b, err := format.Encode(v1, map[string]any{"text": "hello"})
	if err != nil {
		fmt.Println(err)
		return
	}
	reader, datum, err := codec.DecodeLatest(format, reg, b)
	fmt.Printf("% x\n", b[:2])
	fmt.Println(reader.FullName(), datum, err)

	_, _, err = format.Decode([]byte("garbage"))
	fmt.Println(codec.IsMalformed(err), err)
	// Output:
	// c3 01
	// demo.Greeting map[lang:en text:hello] <nil>
	// true codec: bad magic: marker 67 61
}
