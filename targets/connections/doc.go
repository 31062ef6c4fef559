// Package connections is the dropsync target adapter for type "connections-activities".
package connections
