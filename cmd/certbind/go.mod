module github.com/certbind/certbind/cmd/certbind

go 1.26.0
