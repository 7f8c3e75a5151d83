/**
 * QR codes in the terminal (device linking). On a colour terminal qrcode's compact terminal
 * renderer (two modules per character, black on white); without colour its plain UTF-8 block
 * rendering, which needs no escape sequences.
 */
import QRCode from 'qrcode';

export async function renderQr(text: string, colour: boolean): Promise<string> {
  const rendered = colour
    ? await QRCode.toString(text, { type: 'terminal', small: true, errorCorrectionLevel: 'M' })
    : await QRCode.toString(text, { type: 'utf8', errorCorrectionLevel: 'M', margin: 2 });
  return rendered.replace(/\n+$/, '');
}
