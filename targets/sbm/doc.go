// Package sbm is the dropsync target adapter for type "sbm".
package sbm
