/**
 * The built-in EnsLib classes and the hosts that run them.
 *
 * | IRIS class | host |
 * |---|---|
 * | EnsLib.HL7.Service.TCPService | MLLP inbound |
 * | EnsLib.HL7.Operation.TCPOperation | MLLP outbound |
 * | EnsLib.HL7.Service.FileService | directory inbound (batch files split) |
 * | EnsLib.HL7.Operation.FileOperation | directory outbound |
 * | EnsLib.HL7.Service.HTTPService | HTTP POST inbound |
 * | EnsLib.HL7.Operation.HTTPOperation | HTTP POST outbound |
 * | EnsLib.HL7.MsgRouter.RoutingEngine, EnsLib.MsgRouter.RoutingEngine | rule-based router |
 * | EnsLib.EMail.AlertOperation | e-mails alerts routed to Ens.Alert over SMTP; log, store, AlertFile |
 */
import { AlertOperationHost } from '../hosts/alert-operation.js'
import { FileOperationHost } from '../hosts/file-operation.js'
import { FileServiceHost } from '../hosts/file-service.js'
import { HttpOperationHost } from '../hosts/http-operation.js'
import { HttpServiceHost } from '../hosts/http-service.js'
import { RoutingEngineHost } from '../hosts/routing-engine.js'
import { TcpOperationHost } from '../hosts/tcp-operation.js'
import { TcpServiceHost } from '../hosts/tcp-service.js'
import type { HostRegistry } from './host-registry.js'

/** The class names registered by `registerBuiltinHosts`. */
export const BUILTIN_HOST_CLASSES: readonly string[] = [
  'EnsLib.HL7.Service.TCPService',
  'EnsLib.HL7.Operation.TCPOperation',
  'EnsLib.HL7.Service.FileService',
  'EnsLib.HL7.Operation.FileOperation',
  'EnsLib.HL7.Service.HTTPService',
  'EnsLib.HL7.Operation.HTTPOperation',
  'EnsLib.HL7.MsgRouter.RoutingEngine',
  'EnsLib.MsgRouter.RoutingEngine',
  'EnsLib.EMail.AlertOperation',
]

/** Register the built-in hosts on a registry (classes already registered are left alone). */
export function registerBuiltinHosts(registry: HostRegistry): HostRegistry {
  const add = (name: string, f: Parameters<HostRegistry['register']>[1]): void => {
    if (!registry.has(name)) registry.register(name, f)
  }
  add('EnsLib.HL7.Service.TCPService', (item, ctx) => new TcpServiceHost(item, ctx))
  add('EnsLib.HL7.Operation.TCPOperation', (item, ctx) => new TcpOperationHost(item, ctx))
  add('EnsLib.HL7.Service.FileService', (item, ctx) => new FileServiceHost(item, ctx))
  add('EnsLib.HL7.Operation.FileOperation', (item, ctx) => new FileOperationHost(item, ctx))
  add('EnsLib.HL7.Service.HTTPService', (item, ctx) => new HttpServiceHost(item, ctx))
  add('EnsLib.HL7.Operation.HTTPOperation', (item, ctx) => new HttpOperationHost(item, ctx))
  add('EnsLib.HL7.MsgRouter.RoutingEngine', (item, ctx) => new RoutingEngineHost(item, ctx))
  add('EnsLib.MsgRouter.RoutingEngine', (item, ctx) => new RoutingEngineHost(item, ctx))
  add('EnsLib.EMail.AlertOperation', (item, ctx) => new AlertOperationHost(item, ctx))
  return registry
}
