/**
 * Device commands: listing this account's devices, removing one, and approving the linking of
 * a new device (the existing-device side: enter the new device's code or paste its QR text,
 * compare the security code, confirm).
 */
import { notFoundError, usageError } from '../errors.js';
import { parseIndex } from '../parse.js';
import { oneLine, renderDeviceLine } from '../render.js';
import type { ChatCommand } from './types.js';

export const deviceCommands: readonly ChatCommand[] = [
  {
    name: 'devices',
    summary: 'list the devices of your account',
    async run(_input, session) {
      const devices = await session.client.listDevices();
      session.print(`${devices.length} device${devices.length === 1 ? '' : 's'}:`);
      devices.forEach((device, index) => session.print(renderDeviceLine(device, index + 1, { style: session.style, now: Date.now() })));
    },
  },
  {
    name: 'remove-device',
    usage: '<n>',
    summary: 'remove device n (from /devices) from your account',
    details: ['The device is logged out and can no longer read new messages. It cannot be this device: use /logout here.'],
    async run(input, session) {
      const index = input.args.length === 1 ? parseIndex(input.args[0]!) : undefined;
      if (index === undefined) throw usageError('Usage: /remove-device <n> (the number from /devices)');
      const devices = await session.client.listDevices();
      const device = devices[index - 1];
      if (!device) throw notFoundError(`There is no device ${index}: you have ${devices.length} (see /devices).`);
      if (device.current) throw usageError('That is this device. To leave it, use /logout; remove it from another device.');
      const name = device.name ? oneLine(device.name) : 'unnamed device';
      if (!(await session.terminal.confirm(`Remove ${name} from your account?`))) {
        session.notice('nothing removed');
        return;
      }
      await session.changeDevices(() => session.client.removeDevice(device.deviceId));
      session.notice(`removed ${name}`);
    },
  },
  {
    name: 'link',
    usage: '[code]',
    summary: 'approve linking a new device to your account',
    details: [
      'On the new device choose "link this device": it shows an 8-digit code and a QR code.',
      'Here, enter that code (or paste the text of its QR code), then check that both devices',
      'show the same security code before you confirm.',
    ],
    async run(input, session) {
      let entered = input.rest.trim();
      if (entered === '') {
        entered = (await session.terminal.ask('Code shown on the new device (or its QR text): ')) ?? '';
        if (entered === '') {
          session.notice('linking cancelled');
          return;
        }
      }
      const approval = await session.client.approveLinking(entered);
      session.print(`Security code: ${session.style.bold(approval.sas)}`);
      const same = await session.terminal.confirm('Does the new device show exactly the same security code?');
      if (!same) {
        await approval.cancel();
        session.notice('linking cancelled: nothing was sent to the new device');
        return;
      }
      await session.changeDevices(() => approval.confirm());
      session.notice('keys sent: the new device finishes linking now');
    },
  },
];
