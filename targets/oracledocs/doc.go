// Package oracledocs is the dropsync target adapter for type "oracle-documents".
package oracledocs
