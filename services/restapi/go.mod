module github.com/certbind/certbind/services/restapi

go 1.26.0
